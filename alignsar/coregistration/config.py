"""Coregistration parameters, named as SNAP's (and ICEYE's snap_coregister routine) names them.

Defaults follow the ICEYE routine: GRD cross-correlation and SLC values differ (see
:meth:`CoregConfig.defaults`). ``rmsThreshold`` is kept for compatibility, but the outlier rule is
statistical: a GCP is rejected when its residual about the fitted warp exceeds
``max(rmsThreshold, 3 * 1.4826 * MAD)`` of the residuals (iterated until stable), because on
speckled data the per-GCP scatter (0.25-0.6 px) is far above SNAP's 0.05 px, which would throw away
most points and worsen the fit. ``warpOrderSelection`` (alignsar's own, default ``significant``)
makes ``warpPolynomialOrder`` the highest order of the warp: terms the GCPs do not support are
dropped (:func:`alignsar.coregistration.xcorr.select_order`); ``fixed`` always fits that order.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError

RESAMPLING = {
    "CUBIC_CONVOLUTION": "cubic6",
    "BISINC_INTERPOLATION": "sinc",
    "BILINEAR_INTERPOLATION": "bilinear",
    "NEAREST_NEIGHBOUR": "nearest",
}


@dataclass
class CoregConfig:
    nb_gcp: int = 8000
    coarseRegistrationWindowWidth: int = 128
    coarseRegistrationWindowHeight: int = 128
    rowInterpFactor: int = 4
    columnInterpFactor: int = 4
    maxIteration: int = 2
    onlyGCPsOnLand: bool = False
    computeOffset: bool = True
    gcpTolerance: float = 0.25
    rmsThreshold: float = 0.05
    warpPolynomialOrder: int = 1
    applyFineRegistration: bool = False
    fineRegistrationWindowWidth: int = 32
    fineRegistrationWindowHeight: int = 32
    fineRegistrationWindowAccAzimuth: int = 16
    fineRegistrationWindowAccRange: int = 16
    fineRegistrationOversampling: int = 16
    coherenceThreshold: float = 0.6
    demResamplingMethod: str = "BILINEAR_INTERPOLATION"
    resamplingType: str = "CUBIC_CONVOLUTION"
    upsampleFactor: int = 128
    minCoherence: float = 0.1
    # alignsar's own: refine dem_assisted offsets by a constant from cross-correlation ("none" or "constant")
    demAssistedRefinement: str = "none"
    # alignsar's own: refine the geocode method by a constant map shift from cross-correlation ("none" or "constant")
    geocodeRefinement: str = "none"
    # alignsar's own: weight coherent (complex) correlations by the inverse pooled power spectrum
    # over the band that carries the signal, and the joint refinement of detected images by the
    # inverse pooled power up to the aliased band ("band"), or not at all ("none"); see
    # xcorr.spectral_weights and joint.band_weights
    spectralWeighting: str = "band"
    # alignsar's own: warpPolynomialOrder is the highest order and terms the GCPs do not support
    # are dropped ("significant", see xcorr.select_order), or always that order ("fixed", as SNAP)
    warpOrderSelection: str = "significant"
    # alignsar's own: refine the fitted warp by maximising the summed correlation of all GCP
    # windows ("pooled", see coregistration.joint) or not ("none"); detected (real) images, and
    # complex slant-range images correlated coherently (correlation magnitudes)
    jointRefinement: str = "pooled"

    @classmethod
    def defaults(cls, product_type: str) -> CoregConfig:
        """The ICEYE routine's defaults for ``GRD`` or ``SLC``."""
        if product_type.upper() == "SLC":
            # SLC: truncated sinc keeps the coherence of wide-band data (cubic convolution loses ~4 % at S1 bandwidths)
            return cls(
                nb_gcp=10000, gcpTolerance=0.5, applyFineRegistration=True, warpPolynomialOrder=2, resamplingType="BISINC_INTERPOLATION"
            )
        return cls()

    @classmethod
    def from_mapping(cls, values: dict[str, Any], product_type: str = "GRD") -> CoregConfig:
        base = cls.defaults(product_type)
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ConfigError(None, f"unknown coregistration parameters {unknown} (known: {sorted(names)})")
        cfg = dataclasses.replace(base, **values)
        cfg.validate()
        return cfg

    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str], product_type: str = "GRD") -> CoregConfig:
        import yaml

        try:
            with open(path, encoding="utf-8") as f:
                values = yaml.safe_load(f) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(path, f"cannot read coregistration config ({exc})") from exc
        if not isinstance(values, dict):
            raise ConfigError(path, "coregistration config must be a mapping of parameter names to values")
        try:
            return cls.from_mapping(values, product_type)
        except ConfigError as exc:
            raise ConfigError(path, f"{exc.path}: {exc.reason}" if exc.path else exc.reason) from exc

    def validate(self) -> None:
        if not 1 <= self.warpPolynomialOrder <= 3:
            raise ConfigError("warpPolynomialOrder", f"must be 1, 2 or 3, got {self.warpPolynomialOrder}")
        if self.nb_gcp < 3:
            raise ConfigError("nb_gcp", f"must be >= 3, got {self.nb_gcp}")
        if self.demAssistedRefinement not in ("none", "constant"):
            raise ConfigError("demAssistedRefinement", f"must be 'none' or 'constant', got {self.demAssistedRefinement!r}")
        if self.spectralWeighting not in ("none", "band"):
            raise ConfigError("spectralWeighting", f"must be 'none' or 'band', got {self.spectralWeighting!r}")
        if self.warpOrderSelection not in ("significant", "fixed"):
            raise ConfigError("warpOrderSelection", f"must be 'significant' or 'fixed', got {self.warpOrderSelection!r}")
        if self.jointRefinement not in ("none", "pooled"):
            raise ConfigError("jointRefinement", f"must be 'none' or 'pooled', got {self.jointRefinement!r}")
        if self.geocodeRefinement not in ("none", "constant"):
            raise ConfigError("geocodeRefinement", f"must be 'none' or 'constant', got {self.geocodeRefinement!r}")
        if self.resamplingType not in RESAMPLING:
            raise ConfigError("resamplingType", f"must be one of {sorted(RESAMPLING)}, got {self.resamplingType!r}")
        for name in ("coarseRegistrationWindowWidth", "coarseRegistrationWindowHeight"):
            if getattr(self, name) < 8:
                raise ConfigError(name, "must be >= 8")

    @property
    def resampling(self) -> str:
        return RESAMPLING[self.resamplingType]
