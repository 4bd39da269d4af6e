"""Tree ensembles read out of a loaded model, with every split mapped to one raw input.

:mod:`cohortaudit.explain_treeshap` computes exact interventional Shapley values over the
model's *raw* inputs (the players of the model-agnostic explainer), so it needs, for a model:

* the trees (splits, children, leaf values on the positive class's margin, the base value and
  the link: logistic for boosted classifiers, identity for averaged forests and regressors);
* the *encoded* matrix the trees read, computed by the model's own preprocessing (the ONNX
  sub-graph in front of the tree operator, run by onnxruntime; the sklearn pipeline's
  ``transform``), so that the split comparisons are those the model makes, in its precision;
* for every encoded column, the one raw input it derives from, found by tracing the ONNX graph
  (Concat, OneHotEncoder, Imputer, Cast, Scaler, Reshape...) or the ColumnTransformer.

Anything this module cannot read exactly (an operator it does not know, a column derived from
two raw inputs, native categorical splits, MIN/MAX aggregation...) raises :class:`Unmappable`
with the reason, and the caller falls back to the model-agnostic explainer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cohortaudit.modelspec import LoadedModel

__all__ = ["TreeEnsemble", "Unmappable", "read_trees"]

#: Split modes, coded as the numba kernel reads them.
MODE_LEQ, MODE_LT, MODE_GTE, MODE_GT, MODE_EQ, MODE_NEQ = range(6)
_ONNX_MODES = {
    b"BRANCH_LEQ": MODE_LEQ,
    b"BRANCH_LT": MODE_LT,
    b"BRANCH_GTE": MODE_GTE,
    b"BRANCH_GT": MODE_GT,
    b"BRANCH_EQ": MODE_EQ,
    b"BRANCH_NEQ": MODE_NEQ,
}
#: ONNX operators that act on each column alone: a column keeps its raw origin through them.
_ELEMENTWISE = {"Imputer", "Cast", "Scaler", "Identity", "Binarizer", "Abs", "Neg", "Relu"}


class Unmappable(Exception):  # noqa: N818 - an internal signal, never raised to a user
    """The model is not a tree ensemble this module can read exactly; ``str()`` says why."""


@dataclass(frozen=True)
class TreeEnsemble:
    """Flat node arrays over all trees; children index the same arrays (-1 at leaves)."""

    feature: np.ndarray  # int64 encoded column per node (-1 at leaves)
    threshold: np.ndarray  # float64, already in the precision the model compares in
    mode: np.ndarray  # int64 MODE_* per node
    missing_true: np.ndarray  # bool: NaN goes to the true child
    true_child: np.ndarray
    false_child: np.ndarray
    value: np.ndarray  # float64 leaf contribution to the positive class's margin
    roots: np.ndarray
    base: float
    link: str  # "logistic" | "identity"
    column_player: np.ndarray  # int64 raw input index per encoded column (-1: none)
    transform: Callable[[pd.DataFrame], np.ndarray]  # raw frame -> encoded matrix (float64)
    source: str  # "onnx TreeEnsembleClassifier", "sklearn HistGradientBoostingClassifier"...
    float32: bool  # the model compares float32 values with float32 thresholds


def decisions(trees: TreeEnsemble, encoded: np.ndarray) -> np.ndarray:
    """[rows, nodes] bool: does each row go to the node's true child (leaves: False)."""
    internal = trees.feature >= 0
    cols = np.where(internal, trees.feature, 0)
    x = encoded[:, cols]
    if trees.float32:
        x = x.astype(np.float32).astype(np.float64)
    t = trees.threshold[None, :]
    nan = np.isnan(x)
    with np.errstate(invalid="ignore"):
        out = np.select(
            [trees.mode == m for m in range(6)],
            [x <= t, x < t, x >= t, x > t, x == t, x != t],
        )
    out = np.where(nan, trees.missing_true[None, :], out.astype(bool))
    return out & internal[None, :]


# ----------------------------------------------------------------------------------------------
# ONNX
# ----------------------------------------------------------------------------------------------


def _attrs(node: Any) -> dict[str, Any]:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _trace_columns(graph: Any, target: str, names: Sequence[str]) -> list[frozenset[int]]:
    """Raw origins of each column of tensor ``target`` (per-row flattened order)."""
    from onnx import numpy_helper

    producers = {out: node for node in graph.node for out in node.output}
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    index = {n: i for i, n in enumerate(names)}
    memo: dict[str, list[frozenset[int]]] = {}

    def cols(tensor: str) -> list[frozenset[int]]:
        if tensor in memo:
            return memo[tensor]
        if tensor in index:
            out = [frozenset({index[tensor]})]
        elif tensor not in producers:
            graph_inputs = [i.name for i in graph.input]
            if len(graph_inputs) == 1 and tensor == graph_inputs[0]:
                out = [frozenset({j}) for j in range(len(names))]  # one [N, F] tensor input
            else:
                raise Unmappable(f"the tree input depends on an unknown tensor '{tensor}'")
        else:
            node = producers[tensor]
            op, a = node.op_type, _attrs(node)
            if op in _ELEMENTWISE:
                out = cols(node.input[0])
            elif op == "Concat":
                if a.get("axis") not in (1, -1):
                    raise Unmappable(f"a Concat on axis {a.get('axis')} in front of the trees")
                out = [c for inp in node.input for c in cols(inp)]
            elif op == "OneHotEncoder":
                src = cols(node.input[0])
                if len(src) != 1:
                    raise Unmappable("a OneHotEncoder over several columns in front of the trees")
                n_cats = len(a.get("cats_strings") or a.get("cats_int64s") or [])
                out = src * n_cats
            elif op == "Reshape":
                shape = inits.get(node.input[1])
                src = cols(node.input[0])
                if shape is None or shape.ndim != 1 or shape.size != 2 or int(shape[1]) not in (
                    -1,
                    len(src),
                ):
                    raise Unmappable("a Reshape that is not [-1, width] in front of the trees")
                out = src
            else:
                raise Unmappable(f"the operator {op} in front of the trees is not mapped")
        memo[tensor] = out
        return out

    return cols(target)


def _onnx_trees(model: LoadedModel, names: Sequence[str]) -> TreeEnsemble:
    import onnx

    proto = onnx.load(str(model.path))
    graph = proto.graph
    ops = [n for n in graph.node if n.domain == "ai.onnx.ml" and n.op_type.startswith("TreeEns")]
    if len(ops) != 1 or ops[0].op_type not in ("TreeEnsembleClassifier", "TreeEnsembleRegressor"):
        raise Unmappable(
            "the model has no single TreeEnsembleClassifier/TreeEnsembleRegressor operator"
        )
    node = ops[0]
    a = _attrs(node)
    regressor = node.op_type == "TreeEnsembleRegressor"
    if "nodes_values" not in a:
        raise Unmappable("tree thresholds stored as tensors are not read")
    tree_ids = np.asarray(a["nodes_treeids"], dtype=np.int64)
    node_ids = np.asarray(a["nodes_nodeids"], dtype=np.int64)
    key = {(int(t), int(n)): i for i, (t, n) in enumerate(zip(tree_ids, node_ids, strict=True))}
    modes_raw = list(a["nodes_modes"])
    leaf = np.array([m == b"LEAF" for m in modes_raw])
    if any(m not in _ONNX_MODES and m != b"LEAF" for m in modes_raw):
        raise Unmappable("a split mode the reader does not know")
    mode = np.array([_ONNX_MODES.get(m, 0) for m in modes_raw], dtype=np.int64)
    feature = np.where(leaf, -1, np.asarray(a["nodes_featureids"], dtype=np.int64))
    n_nodes = len(tree_ids)
    missing = np.asarray(a.get("nodes_missing_value_tracks_true") or [0] * n_nodes, dtype=bool)

    def child(ids: Sequence[int]) -> np.ndarray:
        return np.array(
            [-1 if leaf[i] else key[(int(tree_ids[i]), int(c))] for i, c in enumerate(ids)],
            dtype=np.int64,
        )

    true_child, false_child = child(a["nodes_truenodeids"]), child(a["nodes_falsenodeids"])
    prefix = "target" if regressor else "class"
    w_tree = np.asarray(a[f"{prefix}_treeids"], dtype=np.int64)
    w_node = np.asarray(a[f"{prefix}_nodeids"], dtype=np.int64)
    w_id = np.asarray(a[f"{prefix}_ids"], dtype=np.int64)
    w_val = np.asarray(a[f"{prefix}_weights"], dtype=np.float64)
    post = a.get("post_transform", b"NONE")
    base_values = list(a.get("base_values") or [])
    if regressor:
        if int(a.get("n_targets", 1)) != 1 or post != b"NONE":
            raise Unmappable("a regressor with several targets or a post-transform")
        agg = a.get("aggregate_function", b"SUM")
        if agg not in (b"SUM", b"AVERAGE"):
            raise Unmappable(f"the aggregate function {agg.decode()} is not additive")
        pos, link, flip = 0, "identity", False
    else:
        labels = list(a.get("classlabels_int64s") or a.get("classlabels_strings") or [])
        if len(labels) != 2:
            raise Unmappable("a classifier that is not binary")
        labels = [lab.decode() if isinstance(lab, bytes) else lab for lab in labels]
        if model.metadata.get("probability_output_style") == "zipmap":
            if model.positive_class not in labels:
                raise Unmappable("the positive class is not among the tree labels")
            pos = labels.index(model.positive_class)
        else:
            pos = int(model.positive_class)
        ids = set(w_id.tolist())
        if post not in (b"LOGISTIC", b"NONE") or not ids <= {0, 1}:
            raise Unmappable(f"the post-transform {post.decode()} with class ids {sorted(ids)}")
        link = "logistic" if post == b"LOGISTIC" else "identity"
        if len(ids) == 1:
            # onnxruntime's binary case: the one weight column is the second label's score,
            # the first label gets 1 - p (NONE) or sigmoid(-margin) (LOGISTIC)
            flip = pos == 0
            pos = next(iter(ids))
        elif link == "identity":
            flip = False
        else:
            raise Unmappable("a logistic classifier with a weight column per class")
        agg = b"SUM"
    value = np.zeros(n_nodes)
    sel = w_id == pos
    np.add.at(
        value, [key[(int(t), int(n))] for t, n in zip(w_tree[sel], w_node[sel], strict=True)],
        w_val[sel],
    )
    roots = np.array([key[(int(t), 0)] for t in np.unique(tree_ids)], dtype=np.int64)
    if agg == b"AVERAGE":
        value = value / len(roots)
    if regressor or len(base_values) <= 1:
        base = float(base_values[0]) if base_values else 0.0
    else:
        base = float(base_values[pos])
    if not regressor and flip:
        value = -value
        base = -base if link == "logistic" else 1.0 - base

    target = node.input[0]
    origins = _trace_columns(graph, target, names)
    column_player = _players(origins, feature)
    transform = _onnx_transform(model, proto, target)
    threshold = np.asarray(a["nodes_values"], dtype=np.float32).astype(np.float64)
    return TreeEnsemble(
        feature, threshold, mode, missing, true_child, false_child, value, roots, base, link,
        column_player, transform, f"onnx {node.op_type}", True,
    )


def _players(origins: list[frozenset[int]], feature: np.ndarray) -> np.ndarray:
    used = set(int(f) for f in feature[feature >= 0])
    if used and max(used) >= len(origins):
        raise Unmappable("a split on a column the traced graph does not produce")
    out = np.full(len(origins), -1, dtype=np.int64)
    for j, origin in enumerate(origins):
        if len(origin) > 1 and j in used:
            raise Unmappable("a split on a column derived from several raw inputs")
        if len(origin) == 1:
            out[j] = next(iter(origin))
    return out


def _onnx_transform(
    model: LoadedModel, proto: Any, target: str
) -> Callable[[pd.DataFrame], np.ndarray]:
    """The graph cut just before the tree operator, run by onnxruntime on raw rows."""
    import onnx
    import onnxruntime as ort

    from cohortaudit.scoring import onnx_feeds

    cut = onnx.ModelProto()
    cut.CopyFrom(proto)
    keep = [n for n in cut.graph.node if not n.op_type.startswith("TreeEnsemble")]
    del cut.graph.node[:]
    cut.graph.node.extend(keep)
    del cut.graph.output[:]
    cut.graph.output.extend([onnx.helper.make_tensor_value_info(target, onnx.TensorProto.FLOAT, None)])
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    session = ort.InferenceSession(
        cut.SerializeToString(), sess_options=opts, providers=["CPUExecutionProvider"]
    )

    def transform(frame: pd.DataFrame) -> np.ndarray:
        (out,) = session.run([target], onnx_feeds(model, session, frame))
        return np.asarray(out, dtype=np.float64).reshape(len(frame), -1)

    return transform


# ----------------------------------------------------------------------------------------------
# sklearn (skops)
# ----------------------------------------------------------------------------------------------

_SK_ELEMENTWISE = ("SimpleImputer", "StandardScaler", "MinMaxScaler", "MaxAbsScaler", "RobustScaler")


def _sk_origins(prep: Any, names: Sequence[str]) -> list[frozenset[int]]:
    index = {n: i for i, n in enumerate(names)}
    if type(prep).__name__ != "ColumnTransformer":
        raise Unmappable(f"the preprocessing step {type(prep).__name__} is not mapped")
    out: list[frozenset[int]] = []
    for _name, trans, columns in prep.transformers_:
        if trans == "drop":
            continue
        cols = [columns] if isinstance(columns, str) else list(columns)
        if not all(isinstance(c, str) and c in index for c in cols):
            raise Unmappable("a ColumnTransformer that selects columns by position or mask")
        steps = [trans] if trans == "passthrough" else (
            [s for _, s in trans.steps] if type(trans).__name__ == "Pipeline" else [trans]
        )
        widths = [1] * len(cols)
        for step in steps:
            kind = type(step).__name__ if step != "passthrough" else "passthrough"
            if kind == "OneHotEncoder":
                if getattr(step, "drop_idx_", None) is not None:
                    raise Unmappable("a OneHotEncoder that drops categories")
                widths = [len(c) for c in step.categories_]
            elif kind == "FunctionTransformer" and getattr(step, "func", None) is None:
                pass  # a fitted "passthrough"
            elif kind == "passthrough" or kind in _SK_ELEMENTWISE:
                if kind == "SimpleImputer" and getattr(step, "add_indicator", False):
                    raise Unmappable("a SimpleImputer with missing indicators")
            else:
                raise Unmappable(f"the preprocessing step {kind} is not mapped")
        for c, w in zip(cols, widths, strict=True):
            out.extend([frozenset({index[c]})] * w)
    return out


def _sk_trees(model: LoadedModel, names: Sequence[str]) -> TreeEnsemble:
    est = model.runner
    if type(est).__name__ != "Pipeline" or len(est.steps) != 2:
        raise Unmappable("the skops model is not a two-step Pipeline (preprocessing, trees)")
    prep, clf = est.steps[0][1], est.steps[1][1]
    kind = type(clf).__name__
    origins = _sk_origins(prep, names)
    labels = list(getattr(clf, "classes_", []))
    if len(labels) != 2:
        raise Unmappable("a classifier that is not binary")
    pos = labels.index(model.positive_class) if model.positive_class in labels else 1
    rows: list[tuple] = []  # (feature, threshold, mode, missing_true, left, right, value)
    roots: list[int] = []

    def add(nodes: list[tuple]) -> None:
        offset = len(rows)
        roots.append(offset)
        for f, t, m, miss, left, right, v in nodes:
            rows.append(
                (f, t, m, miss, left + offset if left >= 0 else -1,
                 right + offset if right >= 0 else -1, v)
            )

    if kind == "HistGradientBoostingClassifier":
        if getattr(clf, "is_categorical_", None) is not None and np.any(clf.is_categorical_):
            raise Unmappable("native categorical splits")
        for per_iter in clf._predictors:
            nodes = per_iter[0].nodes
            add([
                (-1 if nd["is_leaf"] else int(nd["feature_idx"]), float(nd["num_threshold"]),
                 MODE_LEQ, bool(nd["missing_go_to_left"]),
                 -1 if nd["is_leaf"] else int(nd["left"]),
                 -1 if nd["is_leaf"] else int(nd["right"]), float(nd["value"]))
                for nd in nodes
            ])
        sign = 1.0 if pos == 1 else -1.0
        base = sign * float(np.asarray(clf._baseline_prediction).ravel()[0])
        link, f32, value_sign = "logistic", False, sign
    elif kind in ("RandomForestClassifier", "ExtraTreesClassifier"):
        for tree in clf.estimators_:
            t = tree.tree_
            proba = t.value[:, 0, :] / t.value[:, 0, :].sum(axis=1, keepdims=True)
            miss = getattr(t, "missing_go_to_left", np.zeros(t.node_count, dtype=np.uint8))
            add([
                (-1 if t.children_left[i] < 0 else int(t.feature[i]), float(t.threshold[i]),
                 MODE_LEQ, bool(miss[i]), int(t.children_left[i]), int(t.children_right[i]),
                 float(proba[i, pos]) / len(clf.estimators_))
                for i in range(t.node_count)
            ])
        base, link, f32, value_sign = 0.0, "identity", True, 1.0
    else:
        raise Unmappable(f"the estimator {kind} is not a supported tree ensemble")
    arr = list(zip(*rows, strict=True))
    feature = np.asarray(arr[0], dtype=np.int64)
    threshold = np.asarray(arr[1], dtype=np.float64)
    value = value_sign * np.asarray(arr[6], dtype=np.float64)
    value[feature >= 0] = 0.0

    def transform(frame: pd.DataFrame) -> np.ndarray:
        from cohortaudit.scoring import skops_frame

        return np.asarray(prep.transform(skops_frame(model, frame)), dtype=np.float64)

    return TreeEnsemble(
        feature, threshold, np.asarray(arr[2], dtype=np.int64), np.asarray(arr[3], dtype=bool),
        np.asarray(arr[4], dtype=np.int64), np.asarray(arr[5], dtype=np.int64), value,
        np.asarray(roots, dtype=np.int64), base, link, _players(origins, feature), transform,
        f"sklearn {kind}", f32,
    )


def read_trees(model: LoadedModel, names: Sequence[str]) -> TreeEnsemble:
    """The model's trees with raw-input players, or :class:`Unmappable` with the reason."""
    if model.kind == "onnx":
        return _onnx_trees(model, names)
    return _sk_trees(model, names)
