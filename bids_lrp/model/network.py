"""Network architectures and their registry.

The paper's network (``boehle2019``) follows Böhle et al. (2019), Front. Aging Neurosci. 11:194,
section 2.2: four blocks of Conv3d(k=3, no padding) -> BatchNorm3d -> ReLU -> MaxPool3d with
1 -> 8 -> 16 -> 32 -> 64 channels and pools 2, 3, 2, 3, then Dropout(0.4) -> Linear(., 128) ->
ReLU -> Dropout(0.4) -> Linear(128, 2).

Models are plain ``nn.Sequential`` containers (``features`` then ``classifier``), so their
forward pass is their list of layers: the LRP engine can interpret them exactly, and the
``state_dict`` lists conv, bn, conv, bn, ..., linear, linear in order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import nn

ArchitectureFactory = Callable[..., nn.Module]
ARCHITECTURES: dict[str, ArchitectureFactory] = {}


def register_architecture(name: str) -> Callable[[ArchitectureFactory], ArchitectureFactory]:
    """Register a model factory ``factory(input_shape=..., **kwargs) -> nn.Module``."""

    def decorator(factory: ArchitectureFactory) -> ArchitectureFactory:
        if name in ARCHITECTURES:
            raise ValueError(f"architecture {name!r} is already registered")
        ARCHITECTURES[name] = factory
        return factory

    return decorator


def build_model(
    name: str = "boehle2019", input_shape: Sequence[int] = (193, 229, 193), **kwargs
) -> nn.Module:
    """Build a registered architecture for images of spatial shape ``input_shape``.

    Parameters
    ----------
    name
        A registered architecture (see ``ARCHITECTURES``).
    input_shape
        Spatial shape (X, Y, Z) of the network input; the input tensor is (N, 1, X, Y, Z).
    **kwargs
        Passed to the architecture's factory.

    Raises
    ------
    ValueError
        For an unknown name or a shape the architecture cannot take.
    """
    try:
        factory = ARCHITECTURES[name]
    except KeyError:
        raise ValueError(
            f"unknown architecture {name!r}; available: {', '.join(sorted(ARCHITECTURES))}"
        ) from None
    return factory(input_shape=tuple(int(s) for s in input_shape), **kwargs)


def n_outputs(model: nn.Module) -> int | None:
    """Number of logits of a classifier: the width of its last linear layer (None if none)."""
    last = None
    for module in model.modules():
        if isinstance(module, nn.Linear):
            last = module
    return None if last is None else int(last.out_features)


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _check_params(*, in_channels, n_classes, channels, pools, hidden, dropout, kernel) -> None:
    """Raise a ValueError naming the first parameter of the wrong type or range.

    The parameters may come from a model card (JSON): ``torch`` would fail on them with
    RuntimeError or ZeroDivisionError deep inside a layer's constructor.
    """
    for name, value in (
        ("in_channels", in_channels),
        ("n_classes", n_classes),
        ("hidden", hidden),
        ("kernel", kernel),
    ):
        if not _is_count(value):
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    for name, value in (("channels", channels), ("pools", pools)):
        if isinstance(value, str | bytes) or not isinstance(value, Sequence) or not value:
            raise ValueError(f"{name} must be a list of positive integers, got {value!r}")
        if not all(_is_count(v) for v in value):
            raise ValueError(f"{name} must be a list of positive integers, got {list(value)!r}")
    if isinstance(dropout, bool) or not isinstance(dropout, int | float) or not 0 <= dropout < 1:
        raise ValueError(f"dropout must be a number in [0, 1), got {dropout!r}")


def _block_output(size: int, kernel: int, pool: int) -> int:
    """Spatial size after an unpadded conv (stride 1) and a max pool with stride = kernel."""
    return (size - kernel + 1) // pool


def feature_shape(
    input_shape: Sequence[int], kernel: int = 3, pools: Sequence[int] = (2, 3, 2, 3)
) -> tuple[int, ...]:
    """Spatial shape after all conv/pool blocks (an entry < 1 means the shape is too small)."""
    shape = list(input_shape)
    for pool in pools:
        shape = [_block_output(s, kernel, pool) if s > 0 else 0 for s in shape]
    return tuple(shape)


def minimum_input_size(kernel: int = 3, pools: Sequence[int] = (2, 3, 2, 3)) -> int:
    """Smallest edge length for which every pool sees at least one voxel."""
    size = 1
    while feature_shape((size,), kernel, pools)[0] < 1:
        size += 1
    return size


class Boehle2019Net(nn.Sequential):
    """The 3D CNN of Böhle et al. (2019): ``features`` (conv blocks) then ``classifier``.

    Parameters
    ----------
    input_shape
        Spatial input shape; the first linear layer's size is derived from it.
    in_channels, n_classes
        Input channels (1 for T1w) and number of output logits (2: HC, AD).
    channels, pools
        Output channels and max-pool sizes (stride = size) of the conv blocks.
    hidden, dropout
        Width of the hidden dense layer and the dropout probability.
    """

    def __init__(
        self,
        input_shape: Sequence[int] = (193, 229, 193),
        *,
        in_channels: int = 1,
        n_classes: int = 2,
        channels: Sequence[int] = (8, 16, 32, 64),
        pools: Sequence[int] = (2, 3, 2, 3),
        hidden: int = 128,
        dropout: float = 0.4,
        kernel: int = 3,
    ) -> None:
        if len(input_shape) != 3:
            raise ValueError(f"input_shape must have 3 entries (X, Y, Z), got {input_shape!r}")
        _check_params(
            in_channels=in_channels, n_classes=n_classes, channels=channels, pools=pools,
            hidden=hidden, dropout=dropout, kernel=kernel,
        )  # fmt: skip
        if len(channels) != len(pools):
            raise ValueError("channels and pools must have the same length")
        out_shape = feature_shape(input_shape, kernel, pools)
        if min(out_shape) < 1:
            minimum = minimum_input_size(kernel, pools)
            raise ValueError(
                f"input_shape {tuple(input_shape)} is too small for this network: every "
                f"edge must be at least {minimum} voxels (every pool must see one voxel)"
            )
        layers: list[nn.Module] = []
        previous = in_channels
        for width, pool in zip(channels, pools, strict=True):
            layers += [
                nn.Conv3d(previous, width, kernel_size=kernel),
                nn.BatchNorm3d(width),
                nn.ReLU(),
                nn.MaxPool3d(pool),
            ]
            previous = width
        n_features = previous * out_shape[0] * out_shape[1] * out_shape[2]
        classifier = [
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(n_features, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, n_classes),
        ]
        super().__init__()
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(*classifier)
        self.input_shape = tuple(int(s) for s in input_shape)


@register_architecture("boehle2019")
def _boehle2019(input_shape: Sequence[int] = (193, 229, 193), **kwargs) -> nn.Module:
    return Boehle2019Net(input_shape, **kwargs)
