"""The generated server owner key file (issue 17, corruption): a flipped byte or a truncation in
`<data-dir>/server-owner.key` is refused at start with a message naming the file and what to do;
a key of a previous owner (changed with changeserveridmsg) is only reported; the intact file
starts."""
import os

import pytest

from crypto import Crypto
from harness import Colonyd, new_key


def generated(tmp_path):
    """A server that generated its own owner key (no owner in the environment), stopped."""
    s = Colonyd(tmp_path, env={"COLONIES_SERVER_PRVKEY": "", "COLONIES_SERVER_ID": ""}).start()
    s.stop()
    path = os.path.join(s.data_dir, "server-owner.key")
    with open(path) as f:
        text = f.read()
    return s, path, text


def refused(s, what):
    with pytest.raises(RuntimeError) as e:
        s.start()
    msg = str(e.value)
    assert "server-owner.key is damaged" in msg and what in msg and "Restore the file" in msg, msg


@pytest.mark.parametrize("damage", ["flip", "truncate", "empty"])
def test_a_damaged_owner_key_is_refused_naming_the_file(tmp_path, damage):
    s, path, text = generated(tmp_path)
    key = text.splitlines()[0]
    assert len(key) == 64 and f"# server owner id {Crypto().id(key)}" in text
    if damage == "flip":
        # another valid hex digit: still a key, but not the one the ID line names
        flipped = ("1" if key[10] != "1" else "2")
        bad = key[:10] + flipped + key[11:] + text[64:]
        what = "does not match the owner ID"
    elif damage == "truncate":
        bad = text[:40]
        what = "not a 64-hex-digit private key"
    else:
        bad = ""
        what = "not a 64-hex-digit private key"
    with open(path, "w") as f:
        f.write(bad)
    refused(s, what)
    # put back, it starts and the owner's key still signs
    with open(path, "w") as f:
        f.write(text)
    s.start()
    status, err, _ = s.rpc({"msgtype": "getcoloniesmsg"}, key)
    assert status == 200 and not err
    s.kill()


def test_a_previous_owners_key_is_only_reported(tmp_path):
    s, path, text = generated(tmp_path)
    key = text.splitlines()[0]
    s.start()
    _, new_id = new_key()
    status, err, _ = s.rpc({"msgtype": "changeserveridmsg", "serverid": new_id}, key)
    assert status == 200 and not err
    s.stop()
    s.start()  # the file now holds the previous owner's key: a warning, not a refusal
    assert "belongs to a previous server owner" in s.log()
    s.kill()
