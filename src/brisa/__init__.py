"""Brisa: write workflows as Python DAGs; Brisa schedules and runs them.

This package exports the authoring API only; everything else is internal.
"""

from brisa.authoring.container import container
from brisa.authoring.context import TaskContext, get_current_context
from brisa.authoring.dag import DAG, Task, TriggerRule, shell, task
from brisa.authoring.params import Param

__all__ = [
    "DAG",
    "Param",
    "Task",
    "TaskContext",
    "TriggerRule",
    "container",
    "get_current_context",
    "shell",
    "task",
]
__version__ = "0.1.0"
