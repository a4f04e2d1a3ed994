"""Python tasks: `@task` functions and the PythonTask they add to a DAG, whose arguments may
be other tasks (their return values arrive as the arguments)."""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Callable
from typing import Any, overload

from brisa.authoring.dag import Task, _dag_stack
from brisa.core.spec import Binding, PythonCall
from brisa.errors import DagDefinitionError


@functools.lru_cache(maxsize=1024)
def _cached_signature(fn: Callable[..., Any]) -> inspect.Signature:
    return inspect.signature(fn)


def _signature(fn: Callable[..., Any]) -> inspect.Signature:
    """`fn`'s signature, worked out once per function (a fan-out builds many tasks of one)."""
    try:
        return _cached_signature(fn)
    except TypeError:  # unhashable callable (or no signature: raised again below)
        return inspect.signature(fn)


class PythonTask(Task):
    """Runs a Python function; arguments that are tasks receive those tasks' return values."""

    kind = "python"

    def __init__(
        self,
        task_id: str,
        fn: Callable[..., Any],
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
        **options: Any,
    ) -> None:
        super().__init__(task_id, **options)
        kwargs = kwargs or {}
        self.fn = fn
        try:
            signature = _signature(fn)
            wants_context = "context" in signature.parameters
            signature.bind(*args, **kwargs, **({"context": None} if wants_context else {}))
        except TypeError as exc:
            raise DagDefinitionError(
                f"task {task_id!r} called with arguments that do not fit {fn.__name__}(): {exc}",
                self.filename,
                self.lineno,
            ) from None
        self.wants_context = wants_context
        self.args = [self._bind(a, f"argument {i + 1}") for i, a in enumerate(args)]
        self.kwargs = {k: self._bind(v, f"argument {k!r}") for k, v in kwargs.items()}

    def _bind(self, value: Any, what: str) -> Binding:
        """An argument as a binding (`brisa.core.spec.Binding`): a task, a list or dict of tasks
        (their return values arrive in the same shape; they become upstream), or JSON."""
        if isinstance(value, Task):
            return Binding(ref=self._take(value))
        tasks = _only_tasks(value)
        if isinstance(tasks, dict):
            return Binding(refs={key: self._take(t) for key, t in tasks.items()})
        if tasks is not None:
            return Binding(refs=tuple(self._take(t) for t in tasks))
        if _holds_a_task(value):
            raise self._error(
                f"{what} of task {self.task_id!r} mixes tasks with other values; pass a task, "
                "or a list or dict holding only tasks (with string keys), and plain values as "
                "arguments of their own"
            )
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise self._error(
                f"{what} of task {self.task_id!r} is not JSON-serialisable: {exc}"
            ) from None
        return Binding(value=value)

    def _take(self, upstream: Task) -> str:
        upstream.set_downstream(self)
        return upstream.task_id

    def body(self) -> PythonCall:
        return PythonCall(self.fn.__qualname__, tuple(self.args), dict(self.kwargs))


def _only_tasks(value: Any) -> list[Task] | dict[str, Task] | None:
    """A non-empty list, tuple or dict (string keys) of tasks only, as a list or dict."""
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, Task) for v in value):
        return list(value)
    pairs = value.items() if isinstance(value, dict) else ()
    if pairs and all(isinstance(k, str) and isinstance(v, Task) for k, v in pairs):
        return dict(value)
    return None


def _holds_a_task(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_holds_a_task(k) or _holds_a_task(v) for k, v in value.items())
    if isinstance(value, (list, tuple, set, frozenset)):
        return any(_holds_a_task(v) for v in value)
    return isinstance(value, Task)


class TaskFunction:
    """What `@task` returns: calling it inside a DAG adds a task and returns it."""

    def __init__(self, fn: Callable[..., Any], options: dict[str, Any]) -> None:
        self.fn = fn
        self.options = options
        functools.update_wrapper(self, fn)

    def override(self, **options: Any) -> TaskFunction:
        return TaskFunction(self.fn, {**self.options, **options})

    def __call__(self, *args: Any, **kwargs: Any) -> PythonTask:
        options = dict(self.options)
        task_id = options.pop("task_id", None)
        dag = options.get("dag") or (_dag_stack[-1] if _dag_stack else None)
        if task_id is None and dag is not None:
            task_id = dag.unique_task_id(self.fn.__name__)
        return PythonTask(task_id or self.fn.__name__, self.fn, args, kwargs, **options)


@overload
def task(fn: Callable[..., Any], /) -> TaskFunction: ...
@overload
def task(**options: Any) -> Callable[[Callable[..., Any]], TaskFunction]: ...


def task(fn: Callable[..., Any] | None = None, /, **options: Any) -> Any:
    """Turn a function into a task factory: `@task` or `@task(retries=3, task_id=...)`."""
    if fn is not None:
        return TaskFunction(fn, options)
    return lambda f: TaskFunction(f, options)
