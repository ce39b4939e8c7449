"""The acquisition model: identity, orbit, radar grids, calibration, geolocation, lazy pixels."""

from .acquisition import Acquisition, ProductSource, Swath
from .calibration import CalibrationLUT, NoiseAzimuthBlock, NoiseRangeVector, ThermalNoise
from .doppler import DopplerParameters, RangePolynomial
from .grid import SPEED_OF_LIGHT, Burst, ProcessingSpectrum, RadarGrid, SlantGroundConversion
from .orbit import Orbit, OrbitState

__all__ = [
    "SPEED_OF_LIGHT",
    "Acquisition",
    "Burst",
    "CalibrationLUT",
    "DopplerParameters",
    "NoiseAzimuthBlock",
    "NoiseRangeVector",
    "Orbit",
    "OrbitState",
    "ProcessingSpectrum",
    "ProductSource",
    "RadarGrid",
    "RangePolynomial",
    "SlantGroundConversion",
    "Swath",
    "ThermalNoise",
]
