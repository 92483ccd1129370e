"""StyleGAN (v1), StyleGAN2 and StyleGAN3 generators in pure PyTorch, with safe loaders.

Needs the ``gan`` extra (torch). Nothing here is imported by ``import sonicdreams``.
"""

from __future__ import annotations

from .load import assemble, load_stylegan
from .style import StyleGANStyle, stylegan_style

__all__ = ["load_stylegan", "assemble", "StyleGANStyle", "stylegan_style"]
