"""Container tasks: run any image's command in a pod of its own (Kubernetes executor only).

`container("train", image="ghcr.io/acme/train:1.4", command=[...], args=[...], env={...})`
adds a task whose body is a `ContainerRun`. Command, args and env values are templated like a
shell task's (`{{ ds }}`, `{{ params.x }}`): they are an argv, not a shell line, so a param
needs no quoting, unless the command is a shell's `-c` script, where the shell task's rule
applies (`{{ params.x | shquote }}`, outside quotes). The local executor fails such a task's
attempts, saying it needs the Kubernetes executor.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from brisa.authoring import pods, templating
from brisa.authoring.dag import Task
from brisa.core.spec import ContainerRun
from brisa.errors import InvalidInput

SHELLS = frozenset({"sh", "bash", "ash", "dash", "zsh", "ksh"})


class ContainerTask(Task):
    """Runs `image` (with `command` and `args`) as the only container of its pod."""

    kind = "container"

    def __init__(
        self,
        task_id: str,
        image: str,
        *,
        command: Sequence[str] = (),
        args: Sequence[str] = (),
        env: dict[str, str] | None = None,
        resources: dict[str, Any] | None = None,
        **options: Any,
    ) -> None:
        if resources is not None:  # a shortcut for pod={"resources": ...}
            options["pod"] = {**(options.get("pod") or {}), "resources": resources}
        super().__init__(task_id, **options)
        if self.pod is not None and self.pod.image:
            raise self._error(f"container task {task_id!r}: give its image as image=, not in pod=")
        try:
            self.image = pods.check_image(image)
            self.command = _strings(command, "command")
            self.args = _strings(args, "args")
            self.env = pods.env_vars(env or {})
            _check_templates([*self.command, *self.args], list(self.env.values()))
        except InvalidInput as exc:
            raise self._error(f"container task {task_id!r}: {exc}") from None

    def body(self) -> ContainerRun:
        return ContainerRun(self.image, tuple(self.command), tuple(self.args), dict(self.env))


def container(task_id: str, image: str, **options: Any) -> ContainerTask:
    """A task that runs a container image's command (Kubernetes executor only)."""
    return ContainerTask(task_id, image, **options)


def _strings(value: Sequence[str], what: str) -> list[str]:
    if isinstance(value, str) or not all(isinstance(v, str) for v in value):
        raise InvalidInput(f"{what} must be a list of strings, e.g. ['python', '-m', 'train']")
    return list(value)


def _check_templates(argv: list[str], env_values: list[str]) -> None:
    """Unknown filters anywhere; in a shell's `-c` script, the shell task's quoting rule."""
    script = script_index(argv)
    for index, text in enumerate([*argv, *env_values]):
        problems = templating.shell_errors(text) if index == script else _filter_errors(text)
        if problems:
            raise InvalidInput(problems[0])


def script_index(argv: list[str]) -> int | None:
    """Where the script of `sh -c SCRIPT ...` is in `argv` (any common shell, any path)."""
    if not argv or argv[0].rsplit("/", 1)[-1] not in SHELLS:
        return None
    for index, word in enumerate(argv[1:-1], start=1):
        if word == "-c":
            return index + 1
    return None


def _filter_errors(text: str) -> list[str]:
    return [e for e in templating.shell_errors(text) if "unknown template filter" in e]


def rendered(body: ContainerRun, variables: dict[str, Any]) -> ContainerRun:
    """The body with its templates filled in from a task context's `template_vars()`
    (InvalidInput for an unknown name, or an unquoted param in a shell script)."""
    argv = [*body.command, *body.args]
    script = script_index(argv)
    filled = [
        templating.render_shell(text, variables)
        if index == script
        else templating.render(text, variables)
        for index, text in enumerate(argv)
    ]
    return ContainerRun(
        body.image,
        tuple(filled[: len(body.command)]),
        tuple(filled[len(body.command) :]),
        {k: templating.render(v, variables) for k, v in body.env.items()},
    )
