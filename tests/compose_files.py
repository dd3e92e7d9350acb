"""compose files as compose reads them, for the tests that check them without Docker."""

from pathlib import Path
from typing import Any

import yaml


class ComposeLoader(yaml.SafeLoader):
    """YAML with compose's merge tags: ``!override`` and ``!reset`` keep their value.

    The tags only tell compose how to merge a file onto another (compose.kafka-3.yaml onto
    compose.yaml); the value under them is what the service gets.
    """


def _tagged(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    return loader.construct_scalar(node)  # type: ignore[arg-type]


for _tag in ("!override", "!reset"):
    ComposeLoader.add_constructor(_tag, _tagged)


def load(path: Path) -> dict[str, Any]:
    """A compose file's content, merge tags read as their values."""
    loaded: dict[str, Any] = yaml.load(path.read_text(), ComposeLoader)  # noqa: S506 - safe loader
    return loaded
