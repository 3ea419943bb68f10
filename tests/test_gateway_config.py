"""class.toml: defaults, paths relative to the file, and a clear error for each kind of mistake."""

from __future__ import annotations

import pytest

from wenxin_magic.gateway import ConfigError, load_config


def write(tmp_path, text: str):
    path = tmp_path / "class.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_issues_example_reads_with_paths_beside_the_file(tmp_path):
    config = load_config(write(tmp_path, """
[upstream]
base_url = "http://127.0.0.1:9/"
key_env = "TEACHER_KEY"
[redis]
url = "redis://127.0.0.1:6379/0"
[quota]
rpm = 300
tpm = 300000
[policy]
models = ["ernie-speed-8k", "ERNIE-4.5-Turbo-32K"]
max_output_tokens = 2048
daily_tokens = 100000
[students]
roster = "lists/roster.csv"
[admin]
token_env = "WENXIN_GATEWAY_ADMIN"
"""))
    assert config.upstream_url == "http://127.0.0.1:9" and config.key_env == "TEACHER_KEY"
    assert config.models == ("ernie-speed-8k", "ernie-4.5-turbo-32k") and config.allows("Ernie-Speed-8K")
    assert not config.allows("deepseek-r1")
    assert config.roster == tmp_path / "lists" / "roster.csv" and config.ledger_path == tmp_path / "ledger.json"
    assert (config.rpm, config.tpm, config.max_output_tokens, config.daily_tokens) == (300, 300000, 2048, 100000)


def test_an_empty_file_takes_the_defaults(tmp_path):
    config = load_config(write(tmp_path, ""))
    assert config.upstream_url == "https://qianfan.baidubce.com" and config.redis_url is None
    assert config.models is None and config.allows("anything") and config.wait_timeout == 60


@pytest.mark.parametrize("text, words", [
    ("[quotas]\nrpm = 1\n", "unknown section [quotas]"),
    ("[quota]\nrpn = 1\n", "unknown key 'rpn' in [quota]; it takes rpm, tpm, wait_timeout"),
    ("[quota]\nrpm = 0\n", "[quota] rpm must be a positive number"),
    ("[quota]\nrpm = true\n", "[quota] rpm must be int"),
    ("[policy]\nmodels = []\n", "[policy] models must be a non-empty list"),
    ("[upstream]\nbase_url = \"qianfan.baidubce.com\"\n", "must start with http:// or https://"),
    ("[quota\n", "is not valid TOML"),
])
def test_each_mistake_is_named(tmp_path, text, words):
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text))
    assert words in str(caught.value)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="No configuration file at"):
        load_config(tmp_path / "nowhere.toml")
