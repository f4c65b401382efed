"""Print a shell completion script (bash or zsh) for graphspec, made by shtab.

It completes commands, options, and for a SPEC argument the zoo model names
and spec files. Load it once per shell, or install it:

  # bash: in ~/.bashrc
  eval "$(graphspec completion bash)"
  # zsh: save it as _graphspec in a folder on $fpath, then restart zsh
  graphspec completion zsh > ~/.zfunc/_graphspec     # with fpath+=(~/.zfunc) in ~/.zshrc

The zoo names are written into the script, so regenerate it after upgrading graphspec.
"""

from __future__ import annotations

import argparse
import sys

SHELLS = ("bash", "zsh")
# positionals that take a spec (file or zoo name), and options that take a path
_SPEC_DESTS = {"spec", "specs", "target"}
_SPEC_OPTIONS = {"--spec"}
_PATH_OPTIONS = {"-o", "--output", "--input", "--weights", "--run", "--runs-dir", "--calibration"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("shell", choices=SHELLS, help="the shell to complete for")


def _completers(names: list[str]) -> tuple[dict, dict]:
    """shtab completers: (zoo name or file, zoo name only)."""
    words = " ".join(names)
    spec = {
        # the '_file' in the bash function's name makes shtab treat results as paths (dirs get a '/')
        "bash": "_graphspec_zoo_or_file",
        "zsh": "_graphspec_zoo_or_file",
        "preamble": {
            "bash": f'_graphspec_zoo_or_file() {{\n  compgen -W "{words}" -- "$1"\n  compgen -f -- "$1"\n}}\n',
            "zsh": f"_graphspec_zoo_or_file() {{\n  _alternative 'zoo:zoo model:({words})' 'files:spec file:_files'\n}}\n",
        },
    }
    zoo = {
        "bash": "_graphspec_zoo_name",
        "zsh": f"({words})",
        "preamble": {"bash": f'_graphspec_zoo_name() {{\n  compgen -W "{words}" -- "$1"\n}}\n'},
    }
    return spec, zoo


def attach_completers(parser: argparse.ArgumentParser) -> None:
    """Mark every spec argument, zoo name and path option of every subcommand for shtab."""
    import shtab

    from graphspec.zoo import zoo_names

    spec, zoo = _completers(zoo_names())
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        for name, sub in action.choices.items():
            for a in sub._actions:
                if not a.option_strings and (a.dest in _SPEC_DESTS):
                    a.complete = spec  # type: ignore[attr-defined]
                elif not a.option_strings and name == "zoo" and a.dest == "name":
                    a.complete = zoo  # type: ignore[attr-defined]
                elif _SPEC_OPTIONS & set(a.option_strings):
                    a.complete = spec  # type: ignore[attr-defined]
                elif _PATH_OPTIONS & set(a.option_strings) and a.nargs != 0:
                    a.complete = shtab.FILE  # type: ignore[attr-defined]


def script(shell: str) -> str:
    """The completion script for ``shell`` (bash or zsh)."""
    import shtab

    from graphspec.cli.main import build_parser

    parser = build_parser()
    attach_completers(parser)
    return shtab.complete(parser, shell=shell)


def run(args: argparse.Namespace) -> int:
    from graphspec.errors import GraphspecError

    try:
        text = script(args.shell)
    except ImportError as exc:  # shtab is a dependency; a broken install still gets a clear answer
        raise GraphspecError.one("dependency", f"shell completion needs shtab: {exc}", hint="pip install shtab")
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0
