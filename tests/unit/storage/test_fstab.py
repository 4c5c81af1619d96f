from blockprov.storage.fstab import BEGIN, END, Entry, managed_paths, render, with_option

USER = "# static\nproc /proc proc defaults 0 0\n"


def e(spec, path, fstype="ext4", aliases=(), opts="defaults"):
    return Entry(spec, path, fstype, opts, "0", "2", set(aliases))


def test_block_added_and_foreign_lines_kept_byte_for_byte():
    out = render(USER, [e("UUID=a", "/srv")])
    assert out.startswith(USER)
    assert out[len(USER):] == f"{BEGIN}\nUUID=a\t/srv\text4\tdefaults\t0\t2\n{END}\n"


def test_unchanged_is_byte_identical():
    once = render(USER, [e("UUID=a", "/srv"), e("UUID=b", "/x")])
    assert render(once, [e("UUID=a", "/srv"), e("UUID=b", "/x")]) == once


def test_user_line_wins_by_mount_point_or_device():
    user = 'UUID="ABC" /data ext4 defaults 0 2\n/dev/disk/by-label/logs /var/log ext4 defaults 0 2\nLABEL=x /srv/ xfs defaults 0 0\n'
    entries = [e("UUID=abc", "/elsewhere"), e("UUID=zzz", "/logs", aliases={"LABEL=logs"}), e("UUID=q", "/srv")]
    assert render(user, entries) == user


def test_entries_replace_old_block_and_held_lines_survive_with_nofail():
    old = render(USER, [e("UUID=a", "/srv"), e("UUID=b", "/late", aliases=())])
    new = render(old, [e("UUID=c", "/srv")], held={"/late"})
    assert managed_paths(new) == {"/srv": "UUID=c\t/srv\text4\tdefaults\t0\t2",
                                  "/late": "UUID=b\t/late\text4\tnofail\t0\t2"}
    assert render(new, [e("UUID=c", "/srv")], held={"/late"}) == new  # held again: unchanged
    assert render(new, [], held=set()) == USER


def test_with_option_adds_once_to_managed_lines_only():
    text = "UUID=u /late ext4 defaults 0 2\n" + render("", [e("UUID=b", "/late", opts="noatime"), e("UUID=c", "/x")])
    once = with_option(text, {"/late/"}, "nofail")
    assert managed_paths(once)["/late"] == "UUID=b\t/late\text4\tnoatime,nofail\t0\t2"
    assert managed_paths(once)["/x"] == managed_paths(text)["/x"]
    assert once.startswith("UUID=u /late ext4 defaults 0 2\n")  # a foreign line is never edited
    assert with_option(once, {"/late"}, "nofail") == once


def test_no_entries_and_no_block_leaves_text_alone():
    assert render("no newline at end", []) == "no newline at end"
    assert render("tail", [e("UUID=a", "/a")]).startswith("tail\n" + BEGIN)
