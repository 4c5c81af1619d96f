"""Plain passwords are replaced by hashes in every place the config can hold them (pure, fake hasher)."""
from blockprov.boot.passwords import hash_config


def fake(pw):
    return "$6$salt$" + pw[::-1]


def test_every_plain_password_is_hashed():
    cfg = {"users": [{"name": "a", "passwd": "pa"}, {"name": "b", "plain_text_passwd": "pb"},
                     {"name": "c", "passwd": "$6$x$already"}, "default"],
           "password": "pd",
           "chpasswd": {"list": "root:pr\nd:$6$y$kept\ne:RANDOM", "users": [{"name": "f", "password": "pf", "type": "text"}]}}
    out = hash_config(cfg, fake)
    assert out["users"][:3] == [{"name": "a", "hashed_passwd": fake("pa")}, {"name": "b", "hashed_passwd": fake("pb")},
                                {"name": "c", "hashed_passwd": "$6$x$already"}]
    assert out["password"] == fake("pd")
    assert out["chpasswd"]["list"] == [f"root:{fake('pr')}", "d:$6$y$kept", "e:RANDOM"]
    assert out["chpasswd"]["users"] == [{"name": "f", "password": fake("pf"), "type": "hash"}]
    assert cfg["users"][0]["passwd"] == "pa"  # the input is not changed


def test_a_single_user_mapping_is_hashed_too():
    out = hash_config({"users": {"name": "a", "passwd": "plain"}}, fake)
    assert out["users"] == {"name": "a", "hashed_passwd": fake("plain")}
    assert "plain" not in str(out)
