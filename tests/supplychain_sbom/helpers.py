"""Running read_image over test images and hand-made layer streams."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Sequence

from dockyard.supplychain.model import ImageContents
from dockyard.supplychain.sbom import Layer, Limits, read_image
from tests.support import images as im


async def read(*layers: bytes, limits: Limits = Limits()) -> ImageContents:
    image = im.image(list(layers))
    return await read_image(image.layers(), image.open_layer, limits)


def names(contents: ImageContents) -> list[tuple[str, str, str]]:
    return [(p.type, p.name, p.version) for p in contents.packages]


def streamed(
    chunks: Callable[[], Iterable[bytes]], media_type: str = im.MT_GZIP
) -> tuple[Sequence[Layer], Callable[[Layer], AsyncIterator[bytes]], list[int]]:
    """One layer whose bytes come from a generator (never all in memory); the list
    returned counts the chunks the reader pulled."""
    pulled = [0]

    async def open_layer(layer: Layer) -> AsyncIterator[bytes]:
        for chunk in chunks():
            pulled[0] += 1
            yield chunk

    return [Layer("sha256:" + "0" * 64, media_type, 0)], open_layer, pulled
