"""The documentation stays derived from the single declaration of every option."""

from pathlib import Path

from sonicdreams._docs import parameters_markdown
from sonicdreams.settings import option_fields

DOCS = Path(__file__).parents[1] / "docs" / "parameters.md"


def test_parameter_reference_is_generated_and_current():
    assert DOCS.read_text(encoding="utf-8") == parameters_markdown(), (
        "docs/parameters.md is stale: run `python -m sonicdreams._docs > docs/parameters.md`")


def test_every_option_has_help_and_a_cli_flag():
    from sonicdreams.cli import build_parser

    render = build_parser()._subparsers._group_actions[0].choices["render"]
    flags = {opt for action in render._actions for opt in action.option_strings}
    for f in option_fields():
        assert f.metadata["help"], f.name
        if f.name not in ("width", "height") and f.metadata["cli"]:
            assert "--" + f.name.replace("_", "-") in flags, f.name


def test_every_original_parameter_is_an_option_or_an_argument():
    import inspect

    from lucidsonicdreams import LucidSonicDream

    params = set(inspect.signature(LucidSonicDream.hallucinate).parameters) - {"self"}
    names = {f.name for f in option_fields()}
    handled_elsewhere = {"file_name", "resolution", "custom_effects", "options"}
    assert params - names - handled_elsewhere == set()
    assert {f.name for f in option_fields() if f.metadata["lsd"]} <= params | {
        "pulse_audio", "motion_audio", "class_audio", "contrast_audio", "flash_audio"}
