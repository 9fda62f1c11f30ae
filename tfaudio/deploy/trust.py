"""What tfaudio lets run: a SavedModel is a program, and it is read as data before it may load.

`tf.saved_model.load` runs code from the file: the initializers of its resources (lookup tables, ...) run
at load time, and its functions run at every call. `.keras` files (loaded in Keras safe mode: no Lambda
layers, registered classes only), `.tflite` and `.onnx` files cannot run such code; a SavedModel can.

`check_saved_model(path)` parses `saved_model.pb` as a protobuf, without running or importing any of it,
and collects the TensorFlow ops of every function the TF2 loader may run: the functions the object graph
names (signatures, restored `tf.function`s, resource creators, initializers, destroyers) and everything
they call (`While`/`If` bodies, `PartitionedCall`s, ...), plus every other library function except those
only the TF1 saver calls (`_traced_save` / `_traced_restore`, which the TF2 loader never runs). Any op
outside `ALLOWED_OPS` is refused in one line naming it. `ALLOWED_OPS` is exactly the set of ops
`tfaudio.deploy.savedmodel.export_saved_model` emits for every registered model and feature kind
(tests/test_bad_inputs.py exports them all and compares); it holds no file, network, Python or process op.
A SavedModel without an object graph (TF1) is refused too: its loader runs the graph's own restore ops.

`trust=True` (`--trust-model` on the command line) skips the check, for models whose source the user
trusts.
"""
from __future__ import annotations

import os
from pathlib import Path

from tfaudio.errors import TfaudioError

__all__ = ["ALLOWED_OPS", "UntrustedModelError", "saved_model_ops", "check_saved_model"]

#: The ops of tfaudio's own SavedModel exports (every registered model, every feature kind).
ALLOWED_OPS: frozenset[str] = frozenset({
    "Abs", "AddV2", "All", "Any", "ArgMax", "Assert", "BatchMatMulV2", "BiasAdd", "Cast", "Ceil", "ComplexAbs",
    "ConcatV2", "Conj", "Const", "Conv2D", "Cos", "DecodeRaw", "Einsum", "Equal", "ExpandDims", "Fill",
    "FloorDiv", "FloorMod", "GatherV2", "Greater", "GreaterEqual", "HashTableV2", "IRFFT", "Identity", "If",
    "Imag", "LeakyRelu", "LeftShift", "Less", "LessEqual", "Log", "Log1p", "LogicalAnd", "LogicalNot", "LogicalOr",
    "LookupTableFindV2", "LookupTableImportV2", "MatMul", "Max", "MaxPool", "Maximum", "Mean", "Minimum",
    "Mul", "Neg", "NoOp", "OnesLike", "Pack", "Pad", "Prod", "RFFT", "RaggedTensorFromVariant",
    "RaggedTensorToTensor", "RaggedTensorToVariant", "Range", "ReadVariableOp", "Real", "RealDiv", "Relu",
    "Reshape", "ReverseV2", "Rsqrt", "SelectV2", "Shape", "Sigmoid", "Softmax", "Split", "SplitV", "Sqrt",
    "Square", "SquaredDifference", "Squeeze", "StatefulPartitionedCall", "StatelessCase", "StatelessIf",
    "StatelessWhile", "StopGradient", "StridedSlice", "StringFormat", "StringJoin", "StringLength", "Sub",
    "Substr", "Sum", "Tanh", "TensorListFromTensor", "TensorListGetItem", "TensorListReserve",
    "TensorListSetItem", "TensorListStack", "Tile", "Transpose", "While",
})

#: Ops that read or write files, reach the network, run Python or processes: never allowed, whatever
#: an export emits (a test checks that `ALLOWED_OPS` holds none of them).
FORBIDDEN_OPS: frozenset[str] = frozenset({
    "WriteFile", "ReadFile", "MatchingFiles", "PyFunc", "PyFuncStateless", "EagerPyFunc", "SaveV2", "Save",
    "SaveSlices", "RestoreV2", "Restore", "RestoreSlice", "MergeV2Checkpoints", "ShardedFilename",
    "InitializeTableFromTextFile", "InitializeTableFromTextFileV2", "WholeFileReader", "WholeFileReaderV2",
    "TFRecordReader", "TFRecordReaderV2", "TextLineReader", "TextLineReaderV2", "FixedLengthRecordReader",
    "FixedLengthRecordReaderV2", "ReaderReadV2", "TFRecordDataset", "TFRecordDatasetV2", "TextLineDataset",
    "FixedLengthRecordDataset", "FixedLengthRecordDatasetV2", "WriteSummary", "WriteScalarSummary",
    "WriteAudioSummary", "WriteImageSummary", "WriteHistogramSummary", "WriteGraphSummary",
    "WriteRawProtoSummary", "CreateSummaryFileWriter", "CreateSummaryDbWriter", "DatasetToTFRecord",
    "SnapshotDataset", "SnapshotDatasetV2", "SaveDataset", "SaveDatasetV2", "LoadDataset", "CacheDatasetV2",
    "ImmutableConst", "DebugIdentity", "DebugIdentityV2", "DebugIdentityV3", "DebugNanCount",
    "DebugNumericSummary", "DebugNumericSummaryV2", "Print", "PrintV2", "RecvTPUEmbeddingActivations",
    "_Send", "_Recv", "_HostSend", "_HostRecv", "Send", "Recv", "CollectiveBcastSend", "CollectiveBcastRecv",
    "RemoteCall", "RpcCall", "RpcClient", "RpcServer", "RpcServerStart", "RpcServerRegister",
    "DecodeProtoV2", "EncodeProto", "LoadTPUEmbeddingParameters",
})


class UntrustedModelError(TfaudioError):
    """A SavedModel would run an op that tfaudio's exporter never writes (one line naming it)."""


def _callees(node) -> list[str]:
    """Function names a NodeDef calls: its op itself (a library function) and its `func` attributes."""
    names = [node.op]
    for value in node.attr.values():
        if value.HasField("func"):
            names.append(value.func.name)
        if value.HasField("list"):
            names.extend(f.name for f in value.list.func)
    return names


def _closure(roots, library: dict) -> set[str]:
    seen: set[str] = set()
    todo = [r for r in roots if r in library]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for node in library[name].node_def:
            todo.extend(c for c in _callees(node) if c in library and c not in seen)
    return seen


def _parse(path: Path):
    from google.protobuf.message import DecodeError
    from tensorflow.core.protobuf import saved_model_pb2  # lazy: this module stays free of TensorFlow (light to import)

    pb = path / "saved_model.pb"
    proto = saved_model_pb2.SavedModel()
    try:
        proto.ParseFromString(pb.read_bytes())
    except (DecodeError, ValueError, RuntimeError) as e:
        raise UntrustedModelError(f"{pb}: not a readable SavedModel protobuf ({type(e).__name__})") from None
    except OSError as e:
        raise UntrustedModelError(f"{pb}: cannot read it ({(e.strerror or str(e)).lower()})") from None
    return proto


def saved_model_ops(path: str | os.PathLike) -> dict[str, str]:
    """{op: a function that runs it} of every function the TF2 loader of SavedModel folder `path` may run
    (see the module's docstring). Raises `UntrustedModelError` for a file that is no SavedModel protobuf,
    has other than one meta graph or no object graph (a TF1 SavedModel)."""
    path = Path(path)
    proto = _parse(path)
    if len(proto.meta_graphs) != 1:
        raise UntrustedModelError(f"{path}: a SavedModel with {len(proto.meta_graphs)} meta graphs "
                                  "(tfaudio exports write one)")
    meta = proto.meta_graphs[0]
    if not meta.object_graph_def.nodes:
        raise UntrustedModelError(f"{path}: a TF1 SavedModel (no object graph), not a tfaudio export; its loader "
                                  "runs the graph's own ops")
    library = {f.signature.name: f for f in meta.graph_def.library.function}
    roots = set(meta.object_graph_def.concrete_functions)
    for obj in meta.object_graph_def.nodes:
        kind = obj.WhichOneof("kind")
        if kind == "function":
            roots.update(obj.function.concrete_functions)
        elif kind == "bare_concrete_function":
            roots.add(obj.bare_concrete_function.concrete_function_name)
    run = _closure(roots, library)
    saver_nodes = {meta.saver_def.save_tensor_name.split(":")[0], meta.saver_def.restore_op_name.split(":")[0]}
    saver_roots = [c for n in meta.graph_def.node if n.name in saver_nodes for c in _callees(n)]
    saver_only = _closure(saver_roots, library) - run
    ops: dict[str, str] = {}
    for name in sorted(set(library) - saver_only):
        for node in library[name].node_def:
            if node.op not in library:
                ops.setdefault(node.op, name)
    return ops


def check_saved_model(path: str | os.PathLike) -> None:
    """Refuse (`UntrustedModelError`, one line naming the op) a SavedModel folder whose functions use an
    op outside `ALLOWED_OPS`; nothing of it runs. See the module's docstring."""
    for op, function in sorted(saved_model_ops(path).items()):
        if op not in ALLOWED_OPS:
            raise UntrustedModelError(
                f"{path}: refusing to load this SavedModel: it would run the op {op!r} (in {function}), which "
                "tfaudio's exporter never writes; a SavedModel is a program: if you trust its source, pass "
                "--trust-model (trust=True in Python)")
