"""Interop check: a third-party DVRIP client (python-dvr, from PyPI) against `camproof camera`.

Usage: dvrip_client.py PORT PASSWORD EXPECT
  EXPECT is "reference" (the password works, a wrong or empty one does not) or
  "empty-admin" (the flawed camera lets anyone in with the empty password).
Exits non-zero with a message on any mismatch.
"""
import sys

from dvrip import DVRIPCam

port, password, expect = int(sys.argv[1]), sys.argv[2], sys.argv[3]


def login(pw):
    cam = DVRIPCam("127.0.0.1", port=port, user="admin", password=pw)
    ok = cam.login()
    return cam, ok


def check(cond, what):
    if not cond:
        print("FAIL:", what)
        sys.exit(1)
    print("ok:", what)


if expect == "reference":
    cam, ok = login(password)
    check(ok, "login with the admin password")
    check(cam.session == 1, "the first session id is 0x00000001")
    info = cam.get_system_info()
    check(isinstance(info, dict) and len(info) == 19, "SystemInfo has exactly 19 keys")
    check(info.get("SerialNo", "").startswith("CAMPROOF"), "SystemInfo carries the serial number")
    now = cam.get_time()
    check(hasattr(now, "year") and now.year >= 2024, "time query answered with a parsed date: %r" % (now,))
    net = cam.get_info("NetWork.NetCommon")
    check(isinstance(net, dict) and "HostName" in net, "config get NetWork.NetCommon")
    cam.close()
    bad, ok = login("wrong password")
    check(not ok, "a wrong password is refused")
    bad.close()
    empty, ok = login("")
    check(not ok, "the empty password is refused")
    empty.close()
elif expect == "empty-admin":
    cam, ok = login("")
    check(ok, "the flawed camera accepts admin with the empty password")
    cam.close()
else:
    sys.exit("unknown expectation " + expect)
