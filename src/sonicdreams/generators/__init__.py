"""Generator stage: anything that turns latent and class vectors into frames."""

from .base import Generator, check_batch

__all__ = ["Generator", "check_batch"]
