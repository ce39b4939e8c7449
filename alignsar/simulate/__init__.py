"""SAR scene simulator: acquisitions in the alignsar model with known truth."""

from .scene import DEFAULT_CLASSES, LandClass, SceneConfig, SimulatedScene, simulate_scene

__all__ = ["DEFAULT_CLASSES", "LandClass", "SceneConfig", "SimulatedScene", "simulate_scene"]
