"""Motion stage: the generator's inputs for every frame, from the music's features."""

from .trajectory import Trajectory, plan

__all__ = ["Trajectory", "plan"]
