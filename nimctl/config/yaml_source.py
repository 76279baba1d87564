"""Read one YAML file safely into plain Python data, remembering where every key was written.

The file is composed from the parser's event stream by a small iterative builder rather than
PyYAML's recursive composer, so that hostile input is bounded: the file size, the nesting
depth and the number of nodes after alias expansion (a "billion laughs" file) are capped, and
nothing recurses on input-controlled depth. Duplicate keys, which PyYAML silently collapses,
are reported. Only YAML's plain types are built (no custom or Python tags).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

from nimctl.common.errors import ConfigProblem

MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_DEPTH = 64
MAX_NODES = 20_000  # after alias expansion; real configs have a few hundred

_Parser = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_RESOLVER = Resolver()
_CONSTRUCTOR = SafeConstructor()
_TAG = "tag:yaml.org,2002:"
_PLAIN_SCALAR_TAGS = {_TAG + t for t in ("null", "bool", "int", "float", "str")}
_KEPT_AS_TEXT_TAGS = {_TAG + "timestamp"}  # a date stays the string the user wrote
_CONTAINER_TAGS = {None, "!", _TAG + "map", _TAG + "seq"}

Path = tuple[str | int, ...]


def path_str(path: Path) -> str:
    return ".".join(str(p) for p in path)


@dataclass
class SourceDoc:
    """One parsed file: its data and the (line, column) of every key path, both 1-based."""

    file: str
    data: Any
    marks: dict[str, tuple[int, int]] = field(default_factory=dict)


class YamlProblems(Exception):
    """The file could not be read as YAML; carries every problem found."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = problems


@dataclass
class _Frame:
    container: dict[str, Any] | list[Any]
    path: Path
    anchor: str | None
    nodes_at_start: int
    key: str | None = None  # mapping frames: the key whose value comes next
    key_is_merge: bool = False
    merges: list[Any] = field(default_factory=list)
    explicit_keys: set[str] = field(default_factory=set)


def read_file_text(file: str) -> str:
    """The file's text; a YamlProblems when it is missing, too big, binary or not UTF-8."""
    try:
        with open(file, "rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as err:
        raise YamlProblems(
            [
                ConfigProblem(
                    file, "", f"cannot read the file: {err.strerror or err}", hint="check the path and its permissions"
                )
            ]
        ) from None
    return decode_text(raw, file)


def decode_text(raw: bytes, file: str) -> str:
    if len(raw) > MAX_FILE_BYTES:
        raise YamlProblems(
            [
                ConfigProblem(
                    file,
                    "",
                    f"the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB; this is not a config file",
                    hint="point -f at the YAML config file",
                )
            ]
        )
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError:
            pass
    if b"\x00" in raw:
        offset = raw.index(b"\x00")
        line, column = _line_col(raw, offset)
        raise YamlProblems(
            [
                ConfigProblem(
                    file,
                    "",
                    "the file is binary (it holds NUL bytes), not YAML text",
                    line,
                    column,
                    hint="point -f at the YAML config file",
                )
            ]
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line, column = _line_col(raw, err.start)
        raise YamlProblems(
            [
                ConfigProblem(
                    file,
                    "",
                    f"the file is not UTF-8 text (byte 0x{raw[err.start]:02x} cannot be decoded)",
                    line,
                    column,
                    hint="save the file as UTF-8",
                )
            ]
        ) from None


def _line_col(raw: bytes, offset: int) -> tuple[int, int]:
    line = raw.count(b"\n", 0, offset) + 1
    return line, offset - (raw.rfind(b"\n", 0, offset) + 1) + 1


def parse_yaml(text: str, file: str) -> SourceDoc:
    """Parse one YAML document whose top level must be a mapping. Raises YamlProblems."""
    builder = _Builder(file)
    try:
        builder.run(_Parser(text))
    except YamlProblems:
        raise
    except yaml.MarkedYAMLError as err:
        raise YamlProblems([_syntax_problem(file, err, text)]) from None
    except yaml.YAMLError as err:  # ReaderError: a character YAML does not allow
        raise YamlProblems([_reader_problem(file, text, err)]) from None
    except RecursionError:
        raise YamlProblems([ConfigProblem(file, "", "the YAML is nested too deeply")]) from None
    except Exception as err:  # a parser failure must not become a traceback
        raise YamlProblems([ConfigProblem(file, "", f"cannot parse the file as YAML ({type(err).__name__})")]) from None
    if builder.problems:
        raise YamlProblems(builder.problems)
    if builder.root is None:
        raise YamlProblems(
            [
                ConfigProblem(
                    file,
                    "",
                    "the file is empty",
                    hint="a config needs at least `deployment:` and `execution:` settings",
                )
            ]
        )
    if not isinstance(builder.root, dict):
        kind = "a list" if isinstance(builder.root, list) else f"a single {type(builder.root).__name__} value"
        raise YamlProblems(
            [
                ConfigProblem(
                    file,
                    "",
                    f"the top level must be a mapping (key: value lines), found {kind}",
                    1,
                    1,
                    hint="start the file with keys such as `defaults:` and `deployment:`",
                )
            ]
        )
    return SourceDoc(file, builder.root, builder.marks)


def parse_yaml_value(text: str, label: str) -> Any:
    """One YAML value (any type, e.g. from ``-o key=value``), within the same caps. Raises YamlProblems."""
    builder = _Builder(label)
    try:
        builder.run(_Parser(text))
    except YamlProblems:
        raise
    except yaml.MarkedYAMLError as err:
        raise YamlProblems([_syntax_problem(label, err)]) from None
    except Exception as err:  # ReaderError and anything unexpected: never a traceback
        problem = ConfigProblem(label, "", f"cannot parse the value as YAML ({type(err).__name__})")
        raise YamlProblems([problem]) from None
    if builder.problems:
        raise YamlProblems(builder.problems)
    return builder.root


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


_SYNTAX_HINTS = (
    ("tab", "indent with spaces; YAML does not allow tabs for indentation"),
    ("mapping values are not allowed", "quote a value that contains ': ', or check the indentation"),
    ("could not find expected ':'", "check the indentation, or quote a value that spans lines"),
    ("did not find expected key", "check the indentation of this line, and close any quote opened above it"),
    ("expected <block end>", "check the indentation of this line against the lines above"),
    ("unexpected end of stream", "close the quote or bracket opened earlier"),
    ("undefined alias", "define the anchor (&name) before using the alias (*name)"),
)


def _syntax_problem(file: str, err: yaml.MarkedYAMLError, text: str = "") -> ConfigProblem:
    mark = err.problem_mark or err.context_mark
    problem = (err.problem or "invalid YAML").strip()
    message = f"YAML syntax error: {problem}"
    if err.context:
        message += f" ({err.context.strip()})"
    index = getattr(mark, "index", None)
    at_tab = isinstance(index, int) and 0 <= index < len(text) and text[index] == "\t"
    hint = next((h for needle, h in _SYNTAX_HINTS if needle in problem or (needle == "tab" and at_tab)), None)
    line = mark.line + 1 if mark is not None else None
    column = mark.column + 1 if mark is not None else None
    return ConfigProblem(file, "", message, line, column, hint=hint)


def _reader_problem(file: str, text: str, err: yaml.YAMLError) -> ConfigProblem:
    position = getattr(err, "position", None)
    line = column = None
    if isinstance(position, int) and 0 <= position <= len(text):
        line = text.count("\n", 0, position) + 1
        column = position - (text.rfind("\n", 0, position) + 1) + 1
    character = getattr(err, "character", None)
    if isinstance(character, str) and len(character) == 1:
        character = ord(character)
    shown = f" (U+{character:04X})" if isinstance(character, int) else ""
    return ConfigProblem(
        file,
        "",
        f"the file holds a character YAML does not allow{shown}",
        line,
        column,
        hint="remove control characters; the file should be plain UTF-8 text",
    )


class _Builder:
    """Builds plain data from parser events without recursion, within the caps."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.root: Any = None
        self.marks: dict[str, tuple[int, int]] = {}
        self.problems: list[ConfigProblem] = []
        self.stack: list[_Frame] = []
        self.anchors: dict[str, tuple[Any, int]] = {}  # anchor -> (value, node count)
        self.nodes = 0
        self.documents = 0

    def run(self, parser: Any) -> None:
        try:
            while parser.check_event():
                self._handle(parser.get_event())
        finally:
            dispose = getattr(parser, "dispose", None)
            if dispose:
                dispose()

    def _fail(self, message: str, mark: Any, hint: str | None = None, key_path: str = "") -> None:
        line, column = (mark.line + 1, mark.column + 1) if mark else (None, None)
        raise YamlProblems([*self.problems, ConfigProblem(self.file, key_path, message, line, column, hint=hint)])

    def _handle(self, event: Any) -> None:
        if isinstance(event, yaml.DocumentStartEvent):
            self.documents += 1
            if self.documents > 1:
                self._fail(
                    "the file holds more than one YAML document ('---'); nimctl reads one config per file",
                    event.start_mark,
                    hint="split the documents into separate files",
                )
        elif isinstance(event, yaml.ScalarEvent):
            self._scalar(event)
        elif isinstance(event, yaml.AliasEvent):
            self._alias(event)
        elif isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            self._start(event)
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            self._end()

    # -- nodes ------------------------------------------------------------------------------------

    def _count(self, amount: int, mark: Any) -> None:
        self.nodes += amount
        if self.nodes > MAX_NODES:
            self._fail(
                f"the file expands to more than {MAX_NODES} values (anchors and aliases multiply them); "
                "refusing to read it",
                mark,
                hint="remove the repeated aliases",
            )

    def _start(self, event: Any) -> None:
        if self.stack and self._expecting_key():
            self._fail("a key must be a plain value, not a mapping or a list", event.start_mark)
        path = self._child_path(event.start_mark)
        if event.tag not in _CONTAINER_TAGS:
            self._fail(
                f"the YAML tag {event.tag.replace(_TAG, '!!')} is not supported",
                event.start_mark,
                hint="remove the tag; configs hold plain mappings, lists and values",
                key_path=path_str(path),
            )
        if len(self.stack) >= MAX_DEPTH:
            self._fail(f"the YAML is nested more than {MAX_DEPTH} levels deep", event.start_mark)
        self._count(1, event.start_mark)
        is_mapping = isinstance(event, yaml.MappingStartEvent)
        self.stack.append(_Frame({} if is_mapping else [], path, event.anchor, self.nodes))

    def _end(self) -> None:
        frame = self.stack.pop()
        value = frame.container
        if isinstance(value, dict) and frame.merges:
            for source in frame.merges:  # earlier merge sources win, explicit keys win over all
                for key, item in source.items():
                    value.setdefault(key, item)
        if frame.anchor is not None:
            self.anchors[frame.anchor] = (value, self.nodes - frame.nodes_at_start + 1)
        self._attach(value)

    def _scalar(self, event: Any) -> None:
        mark = event.start_mark
        if self.stack and self._expecting_key():
            self._key(event)
            return
        path = self._child_path(mark)
        value = self._construct_scalar(event, path_str(path))
        self._count(1, mark)
        if event.anchor is not None:
            self.anchors[event.anchor] = (value, 1)
        self._attach(value)

    def _alias(self, event: Any) -> None:
        mark = event.start_mark
        if event.anchor not in self.anchors:
            self._fail(
                f"the alias *{event.anchor} refers to an anchor that is not defined before it "
                "(or to the node that contains it)",
                mark,
                hint="define &name before using *name",
            )
        if self.stack and self._expecting_key():
            self._fail("an alias cannot be used as a key", mark)
        value, size = self.anchors[event.anchor]
        self._child_path(mark)
        self._count(size, mark)
        self._attach(value)

    def _construct_scalar(self, event: Any, key_path: str) -> Any:
        tag = event.tag
        if tag is None or tag == "!":
            tag = _RESOLVER.resolve(yaml.ScalarNode, event.value, event.implicit)
        if tag in _KEPT_AS_TEXT_TAGS:
            return event.value
        if tag not in _PLAIN_SCALAR_TAGS:
            self._fail(
                f"the YAML tag {tag.replace(_TAG, '!!')} is not supported",
                event.start_mark,
                hint="remove the tag; configs hold plain strings, numbers and booleans",
                key_path=key_path,
            )
        node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
        try:
            return _CONSTRUCTOR.yaml_constructors[tag](_CONSTRUCTOR, node)
        except (ValueError, yaml.YAMLError):
            self._fail(
                f"{_short(event.value)} is not a valid {tag.replace(_TAG, '')}", event.start_mark, key_path=key_path
            )

    # -- placing values -----------------------------------------------------------------------------

    def _expecting_key(self) -> bool:
        frame = self.stack[-1]
        return isinstance(frame.container, dict) and frame.key is None and not frame.key_is_merge

    def _key(self, event: Any) -> None:
        frame = self.stack[-1]
        mark = event.start_mark
        tag = event.tag
        if tag is None and event.implicit[0]:
            tag = _RESOLVER.resolve(yaml.ScalarNode, event.value, event.implicit)
        if tag == _TAG + "merge":
            frame.key_is_merge = True
            return
        key = event.value
        if key == "" and event.implicit[0]:
            self._fail("a key is missing before ':'", mark)
        path = (*frame.path, key)
        if key in frame.explicit_keys:
            first = self.marks.get(path_str(path))
            where = f" (first at line {first[0]})" if first else ""
            self.problems.append(
                ConfigProblem(
                    self.file,
                    path_str(path),
                    f"duplicate key{where}; YAML would silently keep only the last one",
                    mark.line + 1,
                    mark.column + 1,
                    hint="remove one of the two",
                )
            )
        else:
            self.marks[path_str(path)] = (mark.line + 1, mark.column + 1)
        frame.explicit_keys.add(key)
        frame.key = key

    def _child_path(self, mark: Any) -> Path:
        """The path of the node starting at ``mark``; records the mark of list items."""
        if not self.stack:
            return ()
        frame = self.stack[-1]
        if isinstance(frame.container, list):
            path = (*frame.path, len(frame.container))
            self.marks.setdefault(path_str(path), (mark.line + 1, mark.column + 1))
            return path
        if frame.key_is_merge:
            return frame.path
        return (*frame.path, frame.key or "")

    def _attach(self, value: Any) -> None:
        if not self.stack:
            self.root = value
            return
        frame = self.stack[-1]
        if isinstance(frame.container, list):
            frame.container.append(value)
        elif frame.key_is_merge:
            frame.key_is_merge = False
            sources = value if isinstance(value, list) else [value]
            if not all(isinstance(s, dict) for s in sources):
                raise YamlProblems(
                    [
                        *self.problems,
                        ConfigProblem(
                            self.file, path_str(frame.path), "a merge key (<<) needs a mapping or a list of mappings"
                        ),
                    ]
                )
            frame.merges.extend(sources)
        else:
            frame.container[frame.key or ""] = value
            frame.key = None
