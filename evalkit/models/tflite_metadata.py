"""Metadata inside a TFLite flatbuffer: evalkit's card and the standard ``TFLITE_METADATA``.

A TFLite model keeps named metadata entries, each pointing at a buffer. Two are read here:

- :data:`~evalkit.models.cards.METADATA_KEY`: the card ``evalkit export`` writes (JSON);
- ``TFLITE_METADATA``: the TFLite Support metadata (``metadata_schema.fbs``, file identifier
  ``M001``) that published models carry; its input ``NormalizationOptions`` (mean and std in
  pixel units: ``(pixel - mean) / std``) is the normalisation, its image properties the size.

The schema is small enough to walk with :mod:`flatbuffers` directly (no tflite-support
package, which has no wheels for current Pythons). Writing goes through LiteRT's object API.
"""

from __future__ import annotations

import json
from typing import Any

import flatbuffers
import numpy as np
from flatbuffers import number_types
from flatbuffers.table import Table

STANDARD = "TFLITE_METADATA"
IDENTIFIER = b"M001"
NORMALIZATION = 1  # ProcessUnitOptions.NormalizationOptions
IMAGE_PROPERTIES = 2  # ContentProperties.ImageProperties
RGB = 1  # ColorSpaceType.RGB


def read_entries(model: bytes) -> dict[str, bytes]:
    """The model's metadata entries: name -> the bytes of its buffer."""
    from ai_edge_litert import schema_py_generated as schema

    root = schema.Model.GetRootAs(model, 0)
    entries = {}
    for i in range(root.MetadataLength()):
        entry = root.Metadata(i)
        buffer = root.Buffers(entry.Buffer())
        if buffer.Offset() > 1:  # stored after the flatbuffer (large models)
            data = model[buffer.Offset() : buffer.Offset() + buffer.Size()]
        else:
            data = buffer.DataAsNumpy().tobytes() if buffer.DataLength() else b""
        entries[(entry.Name() or b"").decode()] = data
    return entries


def constant_elements(model: bytes) -> int:
    """Elements of the main subgraph's constant tensors (those backed by a buffer): the
    parameter count, whatever the tensors' type."""
    from ai_edge_litert import schema_py_generated as schema

    root = schema.Model.GetRootAs(model, 0)
    graph = root.Subgraphs(0)
    count = 0
    for i in range(graph.TensorsLength()):
        tensor = graph.Tensors(i)
        buffer = root.Buffers(tensor.Buffer())
        if buffer is not None and (buffer.DataLength() or buffer.Size()):
            count += int(np.prod(tensor.ShapeAsNumpy())) if tensor.ShapeLength() else 1
    return count


def add_entries(model: bytes, entries: dict[str, bytes]) -> bytes:
    """``model`` with ``entries`` added (replacing entries of the same names)."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    tree = flatbuffer_utils.read_model_from_bytearray(bytearray(model))
    tree.metadata = [m for m in tree.metadata or [] if m.name.decode() not in entries]
    for name, data in entries.items():
        buffer = schema.BufferT()
        buffer.data = np.frombuffer(data, dtype=np.uint8)
        tree.buffers.append(buffer)
        entry = schema.MetadataT()
        entry.name, entry.buffer = name.encode(), len(tree.buffers) - 1
        tree.metadata.append(entry)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(tree))


class _Node:
    """One table of the metadata flatbuffer (fields by their schema index)."""

    def __init__(self, buf: bytes, pos: int) -> None:
        self.table = Table(bytearray(buf), pos)

    def _offset(self, index: int) -> int:
        return int(self.table.Offset(4 + 2 * index))

    def child(self, index: int) -> _Node | None:
        offset = self._offset(index)
        if not offset:
            return None
        return _Node(self.table.Bytes, self.table.Indirect(self.table.Pos + offset))

    def children(self, index: int) -> list[_Node]:
        offset = self._offset(index)
        if not offset:
            return []
        start = self.table.Vector(offset)
        return [
            _Node(self.table.Bytes, self.table.Indirect(start + 4 * i))
            for i in range(self.table.VectorLen(offset))
        ]

    def floats(self, index: int) -> list[float]:
        offset = self._offset(index)
        if not offset:
            return []
        values = self.table.GetVectorAsNumpy(number_types.Float32Flags, offset)
        return [float(v) for v in values]

    def byte(self, index: int) -> int:
        offset = self._offset(index)
        return (
            int(self.table.Get(number_types.Uint8Flags, self.table.Pos + offset)) if offset else 0
        )

    def uint(self, index: int) -> int:
        offset = self._offset(index)
        return (
            int(self.table.Get(number_types.Uint32Flags, self.table.Pos + offset)) if offset else 0
        )

    def union(self, index: int) -> _Node | None:
        """A union's value (``index`` is the value's field; the type is the field before)."""
        offset = self._offset(index)
        if not offset:
            return None
        node = _Node(self.table.Bytes, 0)
        self.table.Union(node.table, offset)
        return node


def standard_preprocessing(metadata: bytes) -> dict[str, Any] | None:
    """The first input's normalisation from ``TFLITE_METADATA`` as card fields, or None."""
    if len(metadata) < 8 or metadata[4:8] != IDENTIFIER:
        return None
    root = _Node(metadata, flatbuffers.encode.Get(flatbuffers.packer.uoffset, metadata, 0))
    subgraphs = root.children(3)  # ModelMetadata.subgraph_metadata
    inputs = subgraphs[0].children(2) if subgraphs else []  # input_tensor_metadata
    if not inputs:
        return None
    for unit in inputs[0].children(4):  # TensorMetadata.process_units
        if unit.byte(0) == NORMALIZATION and (options := unit.union(1)) is not None:
            mean, std = options.floats(0), options.floats(1)
            if mean and std:
                return {"divide_by": 1.0, "mean": mean, "std": std}
    return None


def image_size(metadata: bytes) -> int | None:
    """The first input's ``ImageProperties.default_size`` when square, else None."""
    if len(metadata) < 8 or metadata[4:8] != IDENTIFIER:
        return None
    root = _Node(metadata, flatbuffers.encode.Get(flatbuffers.packer.uoffset, metadata, 0))
    subgraphs = root.children(3)
    inputs = subgraphs[0].children(2) if subgraphs else []
    content = inputs[0].child(3) if inputs else None  # TensorMetadata.content
    if content is None or content.byte(0) != IMAGE_PROPERTIES:
        return None
    properties = content.union(1)
    size = properties.child(1) if properties else None  # ImageProperties.default_size
    if size is None or size.uint(0) != size.uint(1):
        return None
    return size.uint(0) or None


def standard_metadata(name: str, mean: list[float], std: list[float], size: int) -> bytes:
    """A ``TFLITE_METADATA`` flatbuffer for an RGB image classifier: input normalisation and
    size, as TFLite Support's tools read them."""
    builder = flatbuffers.Builder(256)

    def table(fields: list[tuple[str, int, Any]]) -> int:
        builder.StartObject(max(index for _, index, _ in fields) + 1)
        for kind, index, value in fields:
            if kind == "offset":
                builder.PrependUOffsetTRelativeSlot(index, value, 0)
            elif kind == "byte":
                builder.PrependUint8Slot(index, value, 0)
            else:
                builder.PrependUint32Slot(index, value, 0)
        return int(builder.EndObject())

    def vector(offsets: list[int]) -> int:
        builder.StartVector(4, len(offsets), 4)
        for offset in reversed(offsets):
            builder.PrependUOffsetTRelative(offset)
        return int(builder.EndVector())

    def floats(values: list[float]) -> int:
        return int(builder.CreateNumpyVector(np.asarray(values, dtype=np.float32)))

    options = table([("offset", 0, floats(mean)), ("offset", 1, floats(std))])
    unit = table([("byte", 0, NORMALIZATION), ("offset", 1, options)])
    image_size_ = table([("uint", 0, size), ("uint", 1, size)])
    properties = table([("byte", 0, RGB), ("offset", 1, image_size_)])
    content = table([("byte", 0, IMAGE_PROPERTIES), ("offset", 1, properties)])
    input_name = builder.CreateString("image")
    tensor = table(
        [("offset", 0, input_name), ("offset", 3, content), ("offset", 4, vector([unit]))]
    )
    output_name = builder.CreateString("probability")
    output = table([("offset", 0, output_name)])
    subgraph = table([("offset", 2, vector([tensor])), ("offset", 3, vector([output]))])
    model_name, parser = builder.CreateString(name), builder.CreateString("1.0.0")
    root = table(
        [("offset", 0, model_name), ("offset", 3, vector([subgraph])), ("offset", 7, parser)]
    )
    builder.Finish(root, file_identifier=IDENTIFIER)
    return bytes(builder.Output())


def card_entry(card: dict[str, Any]) -> bytes:
    return json.dumps(card, sort_keys=True).encode()
