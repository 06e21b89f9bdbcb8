"""Scanner space: random head pose, global size, and a scanner-like voxel grid."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bids_lrp.grid import Grid

__all__ = ["PROTOCOLS", "Protocol", "native_grid", "pose_matrix", "rotation"]

#: Centre of the template brain (world mm), where scanner grids are centred.
BRAIN_CENTRE = np.array([0.0, -18.0, 10.0])

_AXIS = {
    "R": (1.0, 0.0, 0.0),
    "L": (-1.0, 0.0, 0.0),
    "A": (0.0, 1.0, 0.0),
    "P": (0.0, -1.0, 0.0),
    "S": (0.0, 0.0, 1.0),
    "I": (0.0, 0.0, -1.0),
}


@dataclass(frozen=True)
class Protocol:
    """A T1w acquisition geometry.

    Attributes
    ----------
    axcodes : str
        Direction of each array axis (nibabel convention, e.g. ``"LPS"``).
    zooms : tuple of float
        Voxel size per array axis (mm).
    fov : tuple of float
        Field of view per array axis (mm).
    """

    axcodes: str
    zooms: tuple[float, float, float]
    fov: tuple[float, float, float]


#: Scanner-like geometries; their array axis orders differ on purpose.
PROTOCOLS: dict[str, Protocol] = {
    "sagittal": Protocol("LPS", (1.2, 1.0, 1.0), (180.0, 224.0, 200.0)),
    "axial": Protocol("PRS", (1.0, 1.0, 1.2), (224.0, 180.0, 200.0)),
    "coronal": Protocol("RSP", (1.0, 1.0, 1.2), (180.0, 200.0, 224.0)),
}


def rotation(angles_deg: np.ndarray) -> np.ndarray:
    """Rotation matrix from angles about x, y and z (degrees), applied in that order."""
    ax, ay, az = np.deg2rad(np.asarray(angles_deg, float))
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


def pose_matrix(angles_deg: np.ndarray, shift_mm: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """4x4 map from template world to scanner world: ``p = R diag(scale) y + shift``."""
    out = np.eye(4)
    out[:3, :3] = rotation(angles_deg) @ np.diag(np.asarray(scale, float))
    out[:3, 3] = np.asarray(shift_mm, float)
    return out


def native_grid(protocol: Protocol, pose: np.ndarray, offset_mm: np.ndarray) -> Grid:
    """Scanner grid covering the posed head, centred near the brain.

    Parameters
    ----------
    protocol : Protocol
        Geometry (axis order, voxel size, field of view).
    pose : numpy.ndarray
        Template-to-scanner matrix from `pose_matrix`.
    offset_mm : numpy.ndarray
        Off-centre positioning of the field of view (scanner mm).

    Returns
    -------
    Grid
        Shape and voxel-to-scanner affine.
    """
    zooms = np.asarray(protocol.zooms, float)
    shape = tuple(round(f / z) for f, z in zip(protocol.fov, zooms, strict=True))
    directions = np.array([_AXIS[c] for c in protocol.axcodes]).T
    affine = np.eye(4)
    affine[:3, :3] = directions * zooms[None, :]
    centre = pose[:3, :3] @ BRAIN_CENTRE + pose[:3, 3] + np.asarray(offset_mm, float)
    affine[:3, 3] = centre - affine[:3, :3] @ ((np.asarray(shape) - 1) / 2.0)
    return Grid(shape, affine)
