"""A small, safe expression language for derived features.

A recipe may declare derived features such as ``log1p(TotalCharges)``,
``TotalCharges / (tenure + 1)`` or ``income > median(income)``. The text is
parsed with :func:`ast.parse` and checked against a strict whitelist of syntax;
it is never handed to ``eval``/``exec``/``compile``. The checked tree is turned
into a tree of small closures over numpy arrays, so evaluation is vectorised and
can only do what the whitelist allows.

Semantics, chosen so that a fitted pipeline never crashes on odd values:

* Every value is a float64 array (or scalar). Booleans become ``0.0``/``1.0``.
* Division by zero, ``log(0)``, overflow etc. give ``inf``/``NaN``, never an error.
* Comparisons involving ``NaN`` give ``0.0`` (``!=`` is the negation of ``==``,
  so ``NaN != 1`` is ``1.0``, as in numpy).
* A value is *true* (for ``and``/``or``/``not``/``where``) when it is non-zero and
  not ``NaN``.
* Text constants may appear only in ``col("...")`` and in ``==``/``!=``
  comparisons, e.g. ``gender == "Female"``.
* Statistics (``median(c)``, ``quantile(c, 0.9)``...) are learned by
  :class:`~mlctl_runtime.transformers.DerivedFeatures` at ``fit`` time (on the training split only) and
  reused unchanged at ``transform`` time, so no information leaks from test data.
* An expression may refer to input columns and to derived features declared
  before it.
"""

from __future__ import annotations

import ast
import difflib
import re
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

import numpy as np
import pandas as pd
from pandas.api.types import (
    is_bool_dtype,
    is_datetime64_any_dtype,
    is_numeric_dtype,
    is_timedelta64_dtype,
)

from mlctl_runtime.errors import ExpressionError

__all__ = [
    "FUNCTIONS",
    "MAX_DEPTH",
    "MAX_EXPONENT",
    "MAX_LENGTH",
    "MAX_NODES",
    "STATISTICS",
    "Expression",
    "StatKey",
    "compute_stat",
    "parse_expression",
    "stat_label",
]

# Limits that refuse "expression bombs" before any work is done on the data.
MAX_LENGTH = 1000
MAX_NODES = 200
MAX_DEPTH = 64
MAX_EXPONENT = 100

StatKey = tuple[str, str, float | None]
"""A fit-time statistic: (kind, column, q) with q only set for ``quantile``."""

# name -> (min args, max args, signature shown in errors)
FUNCTIONS: dict[str, tuple[int, int, str]] = {
    "log": (1, 1, "log(x)"),
    "log1p": (1, 1, "log1p(x)"),
    "exp": (1, 1, "exp(x)"),
    "sqrt": (1, 1, "sqrt(x)"),
    "abs": (1, 1, "abs(x)"),
    "clip": (3, 3, "clip(x, lo, hi)"),
    "round": (1, 2, "round(x[, ndigits])"),
    "isnull": (1, 1, "isnull(x)"),
    "fillna": (2, 2, "fillna(x, value)"),
    "where": (3, 3, "where(cond, a, b)"),
    "col": (1, 1, 'col("column name")'),
    "median": (1, 1, "median(column)"),
    "mean": (1, 1, "mean(column)"),
    "std": (1, 1, "std(column)"),
    "min": (1, 1, "min(column)"),
    "max": (1, 1, "max(column)"),
    "quantile": (2, 2, "quantile(column, q)"),
}
STATISTICS = ("median", "mean", "std", "min", "max", "quantile")

_ELEMENTWISE = {"log": np.log, "log1p": np.log1p, "exp": np.exp, "sqrt": np.sqrt, "abs": np.abs}

_BINOPS: dict[type, tuple[str, Callable[[Any, Any], Any]]] = {
    ast.Add: ("+", np.add),
    ast.Sub: ("-", np.subtract),
    ast.Mult: ("*", np.multiply),
    ast.Div: ("/", np.true_divide),
    ast.FloorDiv: ("//", np.floor_divide),
    ast.Mod: ("%", np.mod),
    ast.Pow: ("**", np.power),
}
_REFUSED_BINOPS = {
    ast.MatMult: "@",
    ast.BitAnd: "&",
    ast.BitOr: "|",
    ast.BitXor: "^",
    ast.LShift: "<<",
    ast.RShift: ">>",
}
_ORDERINGS: dict[type, tuple[str, Callable[[Any, Any], Any]]] = {
    ast.Lt: ("<", np.less),
    ast.LtE: ("<=", np.less_equal),
    ast.Gt: (">", np.greater),
    ast.GtE: (">=", np.greater_equal),
}
_REFUSED_COMPARISONS = {ast.Is: "is", ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in"}

# What each refused construct is called in an error message.
_REFUSED: dict[type, str] = {
    ast.Attribute: "attribute access is not allowed",
    ast.Subscript: "subscripts (indexing) are not allowed",
    ast.Slice: "slices are not allowed",
    ast.Lambda: "lambda is not allowed",
    ast.ListComp: "comprehensions are not allowed",
    ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.GeneratorExp: "comprehensions are not allowed",
    ast.JoinedStr: "f-strings are not allowed",
    ast.FormattedValue: "f-strings are not allowed",
    ast.NamedExpr: "assignment expressions (:=) are not allowed",
    ast.IfExp: "conditional expressions (a if cond else b) are not allowed",
    ast.Starred: "starred arguments are not allowed",
    ast.List: "list literals are not allowed",
    ast.Tuple: "tuple literals are not allowed",
    ast.Set: "set literals are not allowed",
    ast.Dict: "dict literals are not allowed",
    ast.Await: "await is not allowed",
    ast.Yield: "yield is not allowed",
    ast.YieldFrom: "yield is not allowed",
}

_ALLOWED_SUMMARY = (
    'allowed: numbers, column names, col("name"), arithmetic (+ - * / // % **), '
    "comparisons (== != < <= > >=), and/or/not, "
    "functions log, log1p, exp, sqrt, abs, clip, round, isnull, fillna, where, "
    "and fit-time statistics median, mean, std, min, max, quantile"
)

Fn = Callable[["_Context"], Any]


# --------------------------------------------------------------------------- parsing


def _label(text: str, name: str) -> str:
    where = f" (derived feature {name!r})" if name else ""
    return f"expression {text!r}{where}"


def _fail(text: str, name: str, problem: str, *, hint: str | None = None) -> NoReturn:
    raise ExpressionError(f"{_label(text, name)}: {problem}", hint=hint)


def _char_column(text: str, lineno: int, byte_offset: int) -> str:
    """1-based character position; ast offsets count UTF-8 bytes, users count characters."""
    lines = re.split(r"\r\n|\r|\n", text)
    line = lines[lineno - 1] if 0 < lineno <= len(lines) else ""
    raw = line.encode("utf-8", "surrogatepass")[:byte_offset]
    column = len(raw.decode("utf-8", "ignore")) + 1
    return f"column {column}" if len(lines) == 1 else f"line {lineno}, column {column}"


def _position(text: str, node: ast.AST) -> str:
    """Where a node is; for ``a.b`` and ``a[b]`` point at the ``.``/``[`` itself."""
    if isinstance(node, ast.Attribute | ast.Subscript):
        inner = node.value
        return _char_column(text, inner.end_lineno or 1, inner.end_col_offset or 0)
    return _char_column(text, getattr(node, "lineno", 1), getattr(node, "col_offset", 0))


def _parse_tree(text: str, name: str) -> ast.Expression:
    """``ast.parse`` in eval mode with every failure turned into an ExpressionError."""
    try:
        with warnings.catch_warnings():
            # Python warns about things like "\d" escapes; we report real errors only.
            warnings.simplefilter("ignore")
            return ast.parse(text, mode="eval")
    except SyntaxError as exc:  # includes IndentationError
        where = _char_column(text, exc.lineno or 1, 0)
        if exc.offset:
            where = f"{where.rsplit(' ', 1)[0]} {exc.offset}"
        _fail(text, name, f"invalid syntax at {where}: {exc.msg}")
    except (ValueError, RecursionError, MemoryError, OverflowError) as exc:
        # ValueError: NUL bytes or lone surrogates; the others: pathological nesting.
        _fail(text, name, f"cannot be parsed: {type(exc).__name__}: {exc}")


def _check_size(tree: ast.Expression, text: str, name: str) -> None:
    """Refuse trees too big or too deep, iteratively (so the check itself cannot overflow)."""
    count, deepest, stack = 0, 0, [(tree.body, 1)]
    while stack:
        node, depth = stack.pop()
        count, deepest = count + 1, max(deepest, depth)
        if count > MAX_NODES:
            _fail(text, name, f"is too complex (more than {MAX_NODES} elements)")
        stack.extend((c, depth + 1) for c in ast.iter_child_nodes(node) if isinstance(c, ast.expr))
    if deepest > MAX_DEPTH:
        _fail(text, name, f"is nested too deeply (more than {MAX_DEPTH} levels)")


def _constant_number(node: ast.AST) -> float | None:
    """The value of a numeric literal such as ``3``, ``-0.5`` or ``+2``, else None."""
    sign = 1.0
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        sign = -1.0 if isinstance(node.op, ast.USub) else 1.0
        node = node.operand
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        try:
            return sign * float(node.value)
        except OverflowError:
            return sign * float("inf")
    return None


def _column_name(node: ast.AST) -> str | None:
    """The column a node refers to (``x`` or ``col("x")``), else None."""
    if isinstance(node, ast.Name):
        return node.id
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "col"
        and not node.keywords
        and len(node.args) == 1
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    ):
        return node.args[0].value
    return None


def stat_label(key: StatKey) -> str:
    """The string a statistic is stored under, e.g. ``median(income)``, ``quantile(x, 0.9)``.

    Plain strings (not tuples) keep fitted state simple for skops.
    """
    kind, column, q = key
    ref = column if column.isidentifier() else f"col({column!r})"
    return f"{kind}({ref}, {q!r})" if kind == "quantile" else f"{kind}({ref})"


class _Compiler:
    """Turns a whitelisted AST into closures; anything not whitelisted is refused."""

    def __init__(self, text: str, name: str) -> None:
        self.text, self.name = text, name
        self.columns: set[str] = set()
        self.stats: dict[StatKey, None] = {}  # an ordered set
        self._dispatch: dict[type, Callable[[Any], Fn]] = {
            ast.Constant: self._constant,
            ast.Name: self._name,
            ast.BinOp: self._binop,
            ast.UnaryOp: self._unaryop,
            ast.BoolOp: self._boolop,
            ast.Compare: self._compare,
            ast.Call: self._call,
        }

    def fail(
        self, problem: str, node: ast.AST, *, allowed: bool = False, tail: str = ""
    ) -> NoReturn:
        """Refuse ``node``: the problem, where it is, then what would be accepted."""
        hint = _ALLOWED_SUMMARY if allowed else None
        _fail(self.text, self.name, f"{problem} at {_position(self.text, node)}{tail}", hint=hint)

    def numeric(self, node: ast.AST) -> Fn:
        handler = self._dispatch.get(type(node))
        if handler is None:
            problem = _REFUSED.get(type(node), f"{type(node).__name__} syntax is not allowed")
            hint = "; use where(cond, a, b)" if isinstance(node, ast.IfExp) else ""
            self.fail(problem, node, allowed=True, tail=hint)
        return handler(node)

    def column(self, column: str) -> Fn:
        self.columns.add(column)
        return lambda ctx: ctx.numeric(column)

    # -- leaves

    def _constant(self, node: ast.Constant) -> Fn:
        value = node.value
        if isinstance(value, str):
            self.fail(
                f'text {value!r} is only allowed in col("...") or compared with == or !=',
                node,
            )
        if type(value) not in (bool, int, float):
            self.fail(f"the constant {value!r} is not allowed", node, allowed=True)
        try:
            number = np.float64(float(value))
        except OverflowError:
            self.fail("number too large", node)
        return lambda ctx: number

    def _name(self, node: ast.Name) -> Fn:
        return self.column(node.id)

    # -- operators

    def _binop(self, node: ast.BinOp) -> Fn:
        op = type(node.op)
        if op not in _BINOPS:
            self.fail(
                f"operator {_REFUSED_BINOPS.get(op, op.__name__)} is not allowed",
                node,
                allowed=True,
            )
        if op is ast.Pow:
            exponent = _constant_number(node.right)
            if exponent is not None and not abs(exponent) <= MAX_EXPONENT:
                self.fail(f"exponent {exponent:g} is too large (limit {MAX_EXPONENT})", node.right)
        func = _BINOPS[op][1]
        left, right = self.numeric(node.left), self.numeric(node.right)
        return lambda ctx: func(left(ctx), right(ctx))

    def _unaryop(self, node: ast.UnaryOp) -> Fn:
        operand = self.numeric(node.operand)
        if isinstance(node.op, ast.USub):
            return lambda ctx: np.negative(operand(ctx))
        if isinstance(node.op, ast.UAdd):
            return operand
        if isinstance(node.op, ast.Not):
            return lambda ctx: np.where(_truth(operand(ctx)), 0.0, 1.0)
        self.fail("operator ~ is not allowed (use not)", node, allowed=True)

    def _boolop(self, node: ast.BoolOp) -> Fn:
        parts = [self.numeric(v) for v in node.values]
        combine = np.logical_and if isinstance(node.op, ast.And) else np.logical_or

        def run(ctx: _Context) -> Any:
            mask = _truth(parts[0](ctx))
            for part in parts[1:]:
                mask = combine(mask, _truth(part(ctx)))
            return np.where(mask, 1.0, 0.0)

        return run

    def _compare(self, node: ast.Compare) -> Fn:
        parts, left = [], node.left
        for op, right in zip(node.ops, node.comparators, strict=True):
            parts.append(self._comparison(op, left, right, node))
            left = right

        def run(ctx: _Context) -> Any:
            mask = parts[0](ctx)
            for part in parts[1:]:
                mask = np.logical_and(mask, part(ctx))
            return np.where(mask, 1.0, 0.0)

        return run

    def _comparison(self, op: ast.cmpop, left: ast.AST, right: ast.AST, node: ast.AST) -> Fn:
        kind = type(op)
        if kind in _REFUSED_COMPARISONS:
            self.fail(f"operator '{_REFUSED_COMPARISONS[kind]}' is not allowed", node, allowed=True)
        if kind in (ast.Eq, ast.NotEq):
            a, b = self._raw(left), self._raw(right)
            if kind is ast.Eq:
                return lambda ctx: _equal(a(ctx), b(ctx))
            return lambda ctx: np.logical_not(_equal(a(ctx), b(ctx)))
        for side in (left, right):
            if isinstance(side, ast.Constant) and isinstance(side.value, str):
                self.fail("text can only be compared with == or !=", side)
        func = _ORDERINGS[kind][1]
        a, b = self.numeric(left), self.numeric(right)
        return lambda ctx: func(a(ctx), b(ctx))

    def _raw(self, node: ast.AST) -> Fn:
        """An operand of ==/!=: text constants and text columns are kept as they are."""
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
            return lambda ctx: text
        column = _column_name(node)
        if column is not None:
            self.columns.add(column)
            return lambda ctx: ctx.column(column)
        return self.numeric(node)

    # -- calls

    def _call(self, node: ast.Call) -> Fn:
        if not isinstance(node.func, ast.Name):
            self.fail("calling anything but a named function is not allowed", node, allowed=True)
        fname = node.func.id
        if fname not in FUNCTIONS:
            self._unknown_function(fname, node)
        if node.keywords:
            self.fail(f"keyword arguments are not allowed in {fname}()", node.keywords[0])
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                self.fail(f"starred arguments are not allowed in {fname}()", arg)
        low, high, signature = FUNCTIONS[fname]
        if not low <= len(node.args) <= high:
            expected = str(low) if low == high else f"{low} to {high}"
            self.fail(
                f"{fname}() takes {expected} argument{'s' if high > 1 else ''} "
                f"({signature}), got {len(node.args)}",
                node,
            )
        if fname in STATISTICS:
            return self._statistic(fname, node)
        return getattr(self, f"_call_{fname}")(node)

    def _unknown_function(self, fname: str, node: ast.Call) -> NoReturn:
        close = difflib.get_close_matches(fname, list(FUNCTIONS), n=1)
        suggestion = f" (did you mean {close[0]}()?)" if close else ""
        listing = f"; allowed functions: {', '.join(FUNCTIONS)}"
        self.fail(f"unknown function {fname}()", node, tail=suggestion + listing)

    def _call_col(self, node: ast.Call) -> Fn:
        column = _column_name(node)
        if column is None:
            self.fail('col() takes the column name as text, e.g. col("Total Charges")', node)
        return self.column(column)

    def _elementwise(self, node: ast.Call) -> Fn:
        func = _ELEMENTWISE[node.func.id]  # type: ignore[union-attr]
        arg = self.numeric(node.args[0])
        return lambda ctx: func(arg(ctx))

    _call_log = _call_log1p = _call_exp = _call_sqrt = _call_abs = _elementwise

    def _number_arg(self, node: ast.AST, what: str) -> float:
        value = _constant_number(node)
        if value is None or np.isnan(value):
            self.fail(f"{what} must be a number", node)
        return value

    def _call_clip(self, node: ast.Call) -> Fn:
        x = self.numeric(node.args[0])
        lo = self._number_arg(node.args[1], "clip() lower bound")
        hi = self._number_arg(node.args[2], "clip() upper bound")
        if lo > hi:
            self.fail(f"clip() lower bound {lo:g} is above upper bound {hi:g}", node)
        return lambda ctx: np.clip(x(ctx), lo, hi)

    def _call_round(self, node: ast.Call) -> Fn:
        x = self.numeric(node.args[0])
        digits = 0
        if len(node.args) == 2:
            arg = node.args[1]
            value = _constant_number(arg)
            if value is None or not abs(value) <= 15 or value != int(value):
                self.fail("round() ndigits must be a whole number between -15 and 15", arg)
            digits = int(value)
        return lambda ctx: np.round(x(ctx), digits)

    def _call_isnull(self, node: ast.Call) -> Fn:
        column = _column_name(node.args[0])
        if column is not None:
            # Look at the raw column so isnull() also works on text columns.
            self.columns.add(column)
            return lambda ctx: ctx.column(column).isna().to_numpy(dtype=np.float64)
        x = self.numeric(node.args[0])
        return lambda ctx: np.where(np.isnan(x(ctx)), 1.0, 0.0)

    def _call_fillna(self, node: ast.Call) -> Fn:
        x, value = self.numeric(node.args[0]), self.numeric(node.args[1])

        def run(ctx: _Context) -> Any:
            current = x(ctx)
            return np.where(np.isnan(current), value(ctx), current)

        return run

    def _call_where(self, node: ast.Call) -> Fn:
        cond, a, b = (self.numeric(arg) for arg in node.args)
        return lambda ctx: np.where(_truth(cond(ctx)), a(ctx), b(ctx))

    def _statistic(self, kind: str, node: ast.Call) -> Fn:
        column = _column_name(node.args[0])
        if column is None:
            self.fail(f"the first argument of {kind}() must be a column name", node.args[0])
        q = None
        if kind == "quantile":
            q = _constant_number(node.args[1])
            if q is None or not 0.0 <= q <= 1.0:
                self.fail("quantile() q must be a number between 0 and 1", node.args[1])
        key: StatKey = (kind, column, q)
        self.columns.add(column)
        self.stats[key] = None
        return lambda ctx: ctx.stat(key)


@dataclass(frozen=True, eq=False)
class Expression:
    """A parsed, checked expression, ready to evaluate on any frame.

    Attributes:
        text: The expression as written (surrounding whitespace removed).
        name: The derived feature's name ('' when parsed on its own).
        columns: Every column referenced, including those inside statistics.
        stats: Fit-time statistics needed, e.g. ``("quantile", "x", 0.9)``.
    """

    text: str
    name: str
    columns: frozenset[str]
    stats: tuple[StatKey, ...]
    _fn: Fn = field(repr=False)

    def evaluate(self, df: pd.DataFrame, stats: Mapping[Any, float]) -> pd.Series:
        """Evaluate on every row of ``df``.

        Args:
            df: The frame holding the referenced columns.
            stats: Learned statistics keyed by :func:`stat_label` string (or StatKey tuple).

        Returns:
            A float64 Series aligned with ``df.index`` and named after the feature.

        Raises:
            ExpressionError: a column is missing or holds text, or a statistic is unknown.
        """
        values = self.compute(_Context(df, stats, self), len(df))
        return pd.Series(values, index=df.index, name=self.name or self.text)

    def compute(self, ctx: _Context, n: int) -> np.ndarray:
        """The float64 values of ``n`` rows, reading columns through ``ctx``."""
        with np.errstate(all="ignore"):  # inf/NaN are the documented results
            value = np.asarray(self._fn(ctx), dtype=np.float64)
        return np.array(np.broadcast_to(value, (n,)), dtype=np.float64)

    def __repr__(self) -> str:
        return f"Expression({self.text!r}, name={self.name!r})"


def parse_expression(text: str, *, name: str = "") -> Expression:
    """Parse and check a derived-feature expression without touching any data.

    Args:
        text: The expression, e.g. ``"TotalCharges / (tenure + 1)"``.
        name: The derived feature's name, used in error messages.

    Returns:
        The checked :class:`Expression`.

    Raises:
        ExpressionError: the text does not parse, is too large, or uses anything
            outside the whitelist; the message names the construct and its column.
    """
    if not isinstance(text, str):
        _fail(repr(text), name, f"must be text, got {type(text).__name__}")
    stripped = text.strip()
    if not stripped:
        _fail(text, name, "is empty")
    if len(stripped) > MAX_LENGTH:
        _fail(
            stripped[:40] + "...",
            name,
            f"is too long ({len(stripped)} characters, limit {MAX_LENGTH})",
        )
    tree = _parse_tree(stripped, name)
    _check_size(tree, stripped, name)
    compiler = _Compiler(stripped, name)
    fn = compiler.numeric(tree.body)
    return Expression(stripped, name, frozenset(compiler.columns), tuple(compiler.stats), fn)


# ------------------------------------------------------------------------ evaluation


def _truth(value: Any) -> Any:
    """Elementwise truth: non-zero and not NaN."""
    return np.logical_and(value != 0, ~np.isnan(value))


def _nearest(column: str, columns: Iterable[Any]) -> str:
    names = [str(c) for c in columns]
    close = difflib.get_close_matches(column, names, n=1, cutoff=0.6)
    if close:
        return f"; did you mean {close[0]!r}?"
    shown = ", ".join(repr(c) for c in names[:10]) + (", ..." if len(names) > 10 else "")
    return f"; columns are {shown}" if names else "; the data has no columns"


def _missing_mask(series: pd.Series) -> np.ndarray:
    """Missing means NA or blank text (CSV exports often write ' ' for nothing)."""
    missing = series.isna().to_numpy(dtype=bool)
    if is_bool_dtype(series.dtype) or is_numeric_dtype(series.dtype):
        return missing  # no text to scan
    values = series.to_numpy(dtype=object, na_value=None)
    blank = np.fromiter(
        (isinstance(v, str) and not v.strip() for v in values), dtype=bool, count=len(values)
    )
    return missing | blank


def _stripped_text(series: pd.Series) -> pd.Series:
    """Object copy with text stripped and blank text turned into NaN."""

    def clean(value: Any) -> Any:
        if isinstance(value, str):
            return value.strip() or np.nan
        return value

    return series.astype(object).map(clean, na_action="ignore").astype(object)


def _to_float(series: pd.Series) -> pd.Series:
    """Lenient numeric conversion: numbers stay, numeric text is parsed, the rest is NaN."""
    if is_bool_dtype(series.dtype) or is_numeric_dtype(series.dtype):
        return pd.Series(series.to_numpy(dtype=np.float64, na_value=np.nan), index=series.index)
    converted = pd.to_numeric(_stripped_text(series), errors="coerce")
    return pd.Series(np.asarray(converted, dtype=np.float64), index=series.index)


def _try_numeric(series: pd.Series) -> np.ndarray | None:
    """Float values of a column, or None when it holds text (no value is a number)."""
    if is_datetime64_any_dtype(series.dtype) or is_timedelta64_dtype(series.dtype):
        return None
    values = _to_float(series).to_numpy()
    if is_bool_dtype(series.dtype) or is_numeric_dtype(series.dtype):
        return values
    present = ~_missing_mask(series)
    if present.any() and np.isnan(values[present]).all():
        return None
    return values


class _Context:
    """What a running expression sees: the frame, learned statistics, its own label."""

    __slots__ = ("cache", "expression", "frame", "stats")

    def __init__(self, frame: pd.DataFrame, stats: Mapping[Any, float], expression: Expression):
        self.frame, self.stats, self.expression = frame, stats, expression
        self.cache: dict[str, np.ndarray] = {}

    def fail(self, problem: str) -> NoReturn:
        _fail(self.expression.text, self.expression.name, problem)

    def column(self, name: str) -> pd.Series:
        if name not in self.frame.columns:
            self.fail(f"column {name!r} not found{_nearest(name, self.frame.columns)}")
        series = self.frame[name]
        if isinstance(series, pd.DataFrame):
            self.fail(f"column {name!r} appears more than once in the data")
        return series

    def numeric(self, name: str) -> np.ndarray:
        if name not in self.cache:
            values = _try_numeric(self.column(name))
            if values is None:
                self.fail(
                    f"column {name!r} is not numeric (dtype {self.frame[name].dtype}); "
                    'coerce it to float, or compare it with == "some text"'
                )
            self.cache[name] = values
        return self.cache[name]

    def stat(self, key: StatKey) -> np.float64:
        if key in self.stats:
            return np.float64(self.stats[key])
        label = stat_label(key)
        if label not in self.stats:
            self.fail(f"statistic {label} has not been learned; fit DerivedFeatures first")
        return np.float64(self.stats[label])


def _equal(a: Any, b: Any) -> Any:
    """``==`` that compares text exactly and everything else as numbers."""
    if isinstance(a, str) or isinstance(b, str):
        return _equal_objects(a, b)
    numbers = [_try_numeric(v) if isinstance(v, pd.Series) else v for v in (a, b)]
    if any(v is None for v in numbers):  # a text column
        return _equal_objects(a, b)
    return np.equal(numbers[0], numbers[1])


def _as_objects(value: Any) -> tuple[Any, Any]:
    """(values, missing) with NA turned into None so comparisons never hit pd.NA."""
    if isinstance(value, pd.Series):
        return value.to_numpy(dtype=object, na_value=None), value.isna().to_numpy(dtype=bool)
    if isinstance(value, np.ndarray):
        return value.astype(object), np.isnan(value)
    if isinstance(value, str):
        return value, False
    return value, bool(np.isnan(value))


def _equal_objects(a: Any, b: Any) -> Any:
    (left, left_missing), (right, right_missing) = _as_objects(a), _as_objects(b)
    equal = np.asarray(left == right, dtype=bool)
    return equal & ~np.asarray(left_missing) & ~np.asarray(right_missing)


def compute_stat(key: StatKey, df: pd.DataFrame) -> float:
    """A fit-time statistic of a column coerced to numbers, ignoring missing values.

    Args:
        key: ``(kind, column, q)``; kind is one of median, mean, std (ddof=1), min,
            max, quantile (with ``0 <= q <= 1``, linear interpolation).
        df: The training data.

    Returns:
        A plain float; NaN when the column has no numeric value.

    Raises:
        ExpressionError: the column is missing or holds text.
    """
    kind, column, q = key
    label = stat_label(key)
    if column not in df.columns:
        raise ExpressionError(
            f"statistic {label}: column {column!r} not found{_nearest(column, df.columns)}"
        )
    values = _try_numeric(df[column])
    if values is None:
        raise ExpressionError(f"statistic {label}: column {column!r} is not numeric")
    s = pd.Series(values, dtype=np.float64)
    if kind == "quantile":
        result = s.quantile(q)
    elif kind in STATISTICS:
        result = getattr(s, kind)()
    else:
        raise ExpressionError(
            f"unknown statistic {kind!r}; expected one of {', '.join(STATISTICS)}"
        )
    return float(result)
