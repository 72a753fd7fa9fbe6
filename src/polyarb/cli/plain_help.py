"""A ``--help`` option that costs nothing when it is not given.

typer (0.29) coerces every parameter's value through a pydantic ``TypeAdapter`` unless the value
already is a ``bool`` of a ``bool`` parameter. Its own ``--help`` flag has no default, so when it
is *not* given its value is ``None``, and merely running ``polyarb config`` built two adapters
(the group's and the command's help option): pydantic's TypeAdapter machinery and plugin loader
imported, ~50 ms of a 200 ms start. Defaulting the flag to ``False`` keeps its behaviour (the
callback prints help only for a true value) and skips the coercion; ``apply`` gives every group
and command of the app that help option.
"""

from __future__ import annotations

import typer
from typer._click import Context
from typer.core import TyperCommand, TyperGroup, TyperOption
from typer.models import DefaultPlaceholder


def _false_by_default(option: TyperOption | None) -> TyperOption | None:
    if option is not None and option.default is None:
        option.default = False
    return option


class PlainHelpGroup(TyperGroup):
    def get_help_option(self, ctx: Context) -> TyperOption | None:
        return _false_by_default(super().get_help_option(ctx))


class PlainHelpCommand(TyperCommand):
    def get_help_option(self, ctx: Context) -> TyperOption | None:
        return _false_by_default(super().get_help_option(ctx))


def apply(app: typer.Typer) -> None:
    """Use the plain help option in ``app``, its commands and its sub-apps (recursively), where
    no other class was chosen."""
    if app.info.cls is None or isinstance(app.info.cls, DefaultPlaceholder):
        app.info.cls = PlainHelpGroup
    for command in app.registered_commands:
        if command.cls in (None, TyperCommand):  # typer's default
            command.cls = PlainHelpCommand
    for group in app.registered_groups:
        if group.typer_instance is not None:
            apply(group.typer_instance)
