"""Writes the seed corpus (one valid input per request type, WebSocket frame and record type).

Run from fuzz/: python3 seeds.py. The fuzzer adds what it finds to corpus/<target>/; commit
new entries that raise coverage (`cargo fuzz cmin` first keeps the corpus small).
"""
import base64
import hashlib
import json
import os
import struct

SIGNERS = {"server": 0, "colony": 1, "executor": 2, "user": 3}
P = "a" * 64
API = [
    ("server", "addcolonymsg", {"colony": {"colonyid": "b" * 64, "name": "c2"}}),
    ("server", "removecolonymsg", {"colonyname": "c2"}),
    ("server", "getcoloniesmsg", {}),
    ("user", "getcolonymsg", {"colonyname": "dev"}),
    ("user", "getcolonystatsmsg", {"colonyname": "dev"}),
    ("server", "getstatisticsmsg", {}),
    ("colony", "addexecutormsg", {"executor": {"executorid": "c" * 64, "executorname": "e2",
                                               "executortype": "t", "colonyname": "dev"}}),
    ("colony", "approveexecutormsg", {"colonyname": "dev", "executorname": "e2"}),
    ("colony", "rejectexecutormsg", {"colonyname": "dev", "executorname": "e2"}),
    ("colony", "removeexecutormsg", {"colonyname": "dev", "executorname": "e2"}),
    ("user", "getexecutorsmsg", {"colonyname": "dev"}),
    ("user", "getexecutormsg", {"colonyname": "dev", "executorname": "e"}),
    ("user", "getexecutorbyidmsg", {"colonyname": "dev", "executorid": P}),
    ("executor", "updateexecutormsg", {"colonyname": "dev", "executorname": "e",
                                       "capabilities": {"hardware": [{"cpu": "1000m", "mem": "1Gi"}]}}),
    ("executor", "reportallocationmsg", {"colonyname": "dev", "executorname": "e", "allocations": {}}),
    ("colony", "addusermsg", {"user": {"colonyname": "dev", "userid": "d" * 64, "name": "u2"}}),
    ("user", "getusersmsg", {"colonyname": "dev"}),
    ("user", "getusermsg", {"colonyname": "dev", "name": "u"}),
    ("user", "getuserbyidmsg", {"colonyname": "dev", "userid": P}),
    ("colony", "removeusermsg", {"colonyname": "dev", "name": "u2"}),
    ("user", "submitfuncspecmsg", {"spec": {"funcname": "f", "args": [1, "x", {"k": [1.5]}], "kwargs": {"a": 1},
                                            "priority": 3, "maxexectime": 5, "maxwaittime": 5, "maxretries": 1,
                                            "conditions": {"colonyname": "dev", "executortype": "t",
                                                           "executornames": ["e"], "cpu": "500m", "mem": "1Gi",
                                                           "gpu": {"name": "x", "count": 1, "mem": "2Gi"}},
                                            "label": "l", "channels": ["chat"], "env": {"K": "V"}}}),
    ("executor", "assignprocessmsg", {"colonyname": "dev", "timeout": -1, "availablecpu": "1000m",
                                      "availablemem": "2Gi"}),
    ("user", "getprocessmsg", {"processid": P}),
    ("user", "getprocessesmsg", {"colonyname": "dev", "count": 10, "state": 0, "label": "l"}),
    ("user", "getprocesshistmsg", {"colonyname": "dev", "seconds": 60, "state": 1}),
    ("user", "removeprocessmsg", {"processid": P, "all": False}),
    ("colony", "removeallprocessesmsg", {"colonyname": "dev", "state": -1}),
    ("executor", "closesuccessfulmsg", {"processid": P, "out": ["x", 1]}),
    ("executor", "closefailedmsg", {"processid": P, "errors": ["e"]}),
    ("executor", "setoutputmsg", {"processid": P, "out": [{"a": None}]}),
    ("user", "cancelprocessmsg", {"processid": P}),
    ("colony", "pauseassignmentsmsg", {"colonyname": "dev"}),
    ("colony", "resumeassignmentsmsg", {"colonyname": "dev"}),
    ("user", "getpausestatusmsg", {"colonyname": "dev"}),
    ("executor", "addattributemsg", {"attribute": {"targetid": P, "key": "k", "value": "v", "attributetype": 1}}),
    ("user", "getattributemsg", {"attributeid": P}),
    ("executor", "addlogmsg", {"processid": P, "message": "m"}),
    ("executor", "addexecutorlogmsg", {"colonyname": "dev", "executorname": "e", "message": "m"}),
    ("user", "getlogsmsg", {"colonyname": "dev", "processid": P, "count": 10, "since": 0, "latest": True}),
    ("user", "searchlogsmsg", {"colonyname": "dev", "text": "m", "days": 1, "count": 10}),
    ("executor", "addfunctionmsg", {"fun": {"executorname": "e", "colonyname": "dev", "funcname": "f"}}),
    ("user", "getfunctionsmsg", {"colonyname": "dev"}),
    ("executor", "removefunctionmsg", {"functionid": P}),
    ("user", "submitworkflowspecmsg", {"spec": {"colonyname": "dev", "functionspecs": [
        {"nodename": "a", "funcname": "f", "conditions": {"colonyname": "dev", "executortype": "t", "dependencies": []}},
        {"nodename": "b", "funcname": "f", "conditions": {"colonyname": "dev", "executortype": "t", "dependencies": ["a"]}}]}}),
    ("user", "getprocessgraphmsg", {"processgraphid": P}),
    ("user", "getprocessgraphsmsg", {"colonyname": "dev", "count": 10, "state": 0}),
    ("user", "removeprocessgraphmsg", {"processgraphid": P}),
    ("colony", "removeallprocessgraphsmsg", {"colonyname": "dev", "state": -1}),
    ("user", "cancelprocessgraphmsg", {"processgraphid": P}),
    ("executor", "addchildmsg", {"processgraphid": P, "parentprocessid": P, "childprocessid": "", "insert": True,
                                 "spec": {"nodename": "c", "funcname": "f", "conditions": {"colonyname": "dev", "executortype": "t"}}}),
    ("user", "channelappendmsg", {"processid": P, "name": "chat", "sequence": 1, "inreplyto": 0,
                                  "payload": [104, 105], "payloadtype": "end"}),
    ("user", "channelappendmsg", {"processid": P, "name": "chat", "sequence": 2, "payload": "aGk="}),
    ("user", "channelreadmsg", {"processid": P, "name": "chat", "afterseq": 0, "limit": 10}),
    ("user", "versionmsg", {"buildversion": "", "buildtime": ""}),
    ("user", "getserverinfomsg", {}),
    ("server", "changeserveridmsg", {"serverid": "e" * 64}),
    ("colony", "changecolonyidmsg", {"colonyname": "dev", "colonyid": "f" * 64}),
    ("user", "changeuseridmsg", {"colonyname": "dev", "userid": "1" * 64}),
    ("executor", "changeexecutoridmsg", {"colonyname": "dev", "executorid": "2" * 64}),
    ("server", "colonydbackupmsg", {"dir": "b1"}),
    ("user", "addcronmsg", {"cron": {"colonyname": "dev", "name": "c", "cronexpression": "0/1 * * * * *",
                                     "interval": -1, "random": False, "waitforprevprocessgraph": True,
                                     "nextrun": "0001-01-01T00:00:00Z",
                                     "workflowspec": json.dumps({"colonyname": "dev", "functionspecs": [
                                         {"nodename": "a", "funcname": "f",
                                          "conditions": {"colonyname": "dev", "executortype": "t"}}]})}}),
    ("user", "addcronmsg", {"cron": {"colonyname": "dev", "name": "i", "interval": 2, "random": True,
                                     "cronexpression": "TZ=Europe/Stockholm @every 1h30m",
                                     "workflowspec": "{\"functionspecs\":[]}"}}),
    ("user", "getcronmsg", {"cronid": P}),
    ("user", "getcronsmsg", {"colonyname": "dev", "count": 20}),
    ("user", "runcronmsg", {"cronid": P}),
    ("user", "removecronmsg", {"cronid": P, "all": False}),
    ("executor", "addgeneratormsg", {"generator": {"colonyname": "dev", "name": "g", "trigger": 2, "timeout": 1,
                                                   "workflowspec": json.dumps({"colonyname": "dev", "functionspecs": [
                                                       {"nodename": "a", "funcname": "f",
                                                        "conditions": {"colonyname": "dev", "executortype": "t"}}]})}}),
    ("user", "getgeneratormsg", {"generatorid": P}),
    ("user", "getgeneratorsmsg", {"colonyname": "dev", "count": 20}),
    ("user", "resolvegeneratormsg", {"colonyname": "dev", "generatorname": "g"}),
    ("user", "packgeneratormsg", {"generatorid": P, "arg": "x"}),
    ("user", "removegeneratormsg", {"generatorid": P, "all": False}),
    ("colony", "addlocationmsg", {"location": {"locationid": "", "name": "lab", "colonyname": "dev",
                                               "description": "d", "long": 18.07, "lat": 59.33}}),
    ("user", "getlocationmsg", {"colonyname": "dev", "name": "lab"}),
    ("user", "getlocationsmsg", {"colonyname": "dev"}),
    ("colony", "removelocationmsg", {"colonyname": "dev", "name": "lab"}),
    ("server", "getclustermsg", {}),
    ("executor", "addfilemsg", {"file": {"fileid": None, "colonyname": "dev", "label": "/data", "name": "a.csv",
                                         "size": 12, "sequencenr": 1, "checksum": "ab", "checksumalg": "SHA256",
                                         "ref": {"protocol": "s3", "s3object": {
                                             "server": "127.0.0.1", "port": 9000, "tls": False,
                                             "accesskey": "k", "secretkey": "s", "region": "",
                                             "encryptionkey": "", "encryptionalg": "", "object": "o",
                                             "bucket": "b"}}, "added": None}}),
    ("user", "getfilemsg", {"colonyname": "dev", "fileid": None, "label": "/data", "name": "a.csv", "latest": True}),
    ("user", "getfilemsg", {"colonyname": "dev", "fileid": P, "label": "", "name": "", "latest": False}),
    ("user", "getfilesmsg", {"colonyname": "dev", "label": "/data"}),
    ("user", "getfilelabelsmsg", {"colonyname": "dev", "name": "/d", "exact": True}),
    ("user", "removefilemsg", {"colonyname": "dev", "fileid": "", "label": "/data", "name": "a.csv"}),
    ("user", "createsnapshotmsg", {"colonyname": "dev", "label": "/data/", "name": "s1"}),
    ("user", "getsnapshotmsg", {"colonyname": "dev", "snapshotid": "", "name": "s1"}),
    ("user", "getsnapshotsmsg", {"colonyname": "dev"}),
    ("user", "removesnapshotmsg", {"colonyname": "dev", "snapshotid": P, "name": ""}),
    ("user", "removeallsnapshotmsg", {"colonyname": "dev"}),
    ("colony", "addblueprintdefinitionmsg", {"blueprintdefinition": {
        "kind": "Dev", "metadata": {"name": "devs", "colonyname": "dev"},
        "spec": {"names": {"kind": "Dev", "listKind": "DevList", "shortNames": ["d"]},
                 "handler": {"executorType": "t", "functionName": "rec", "reconcileInterval": 5},
                 "schema": {"type": "object", "required": ["n"],
                            "properties": {"n": {"type": "number"}, "mode": {"type": "string", "enum": ["a", "b"]},
                                           "list": {"type": "array", "items": {"type": "object",
                                                    "properties": {"x": {"type": "boolean"}}}}}}}}}),
    ("user", "getblueprintdefinitionmsg", {"colonyname": "dev", "name": "devs"}),
    ("user", "getblueprintdefinitionsmsg", {"colonyname": "dev"}),
    ("colony", "removeblueprintdefinitionmsg", {"namespace": "dev", "name": "devs"}),
    ("user", "addblueprintmsg", {"blueprint": {"kind": "Dev", "metadata": {"name": "b1", "colonyname": "dev",
                                                                         "locationname": "lab", "labels": {"a": "b"}},
                                               "spec": {"n": 3, "mode": "a", "list": [{"x": True}]}}}),
    ("user", "getblueprintmsg", {"namespace": "dev", "name": "b1"}),
    ("user", "getblueprintsmsg", {"namespace": "dev", "kind": "Dev", "locationname": "LAB"}),
    ("user", "updateblueprintmsg", {"blueprint": {"kind": "Dev", "metadata": {"name": "b1", "colonyname": "dev"},
                                                  "spec": {"n": 3.0}}, "forcegeneration": True}),
    ("user", "removeblueprintmsg", {"namespace": "dev", "name": "b1"}),
    ("user", "getblueprinthistorymsg", {"blueprintid": P, "limit": 3}),
    ("executor", "updateblueprintstatusmsg", {"colonyname": "dev", "blueprintname": "b1", "status": {"ready": True}}),
    ("executor", "reconcileblueprintmsg", {"namespace": "dev", "name": "b1", "force": True}),
]


def write(target, data):
    d = os.path.join("corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)


def ws_frame(text, mask=b"\x01\x02\x03\x04"):
    data = text.encode()
    head = bytes([0x81])
    n = len(data)
    if n < 126:
        head += bytes([0x80 | n])
    else:
        head += bytes([0x80 | 126]) + struct.pack(">H", n)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data))


for signer, pt, msg in API:
    body = json.dumps({"msgtype": pt, **msg}).encode()
    write("api_request", bytes([0x80 | SIGNERS[signer]]) + pt.encode() + b"\n" + body)
# raw bodies: envelope parsing
write("api_request", b"\x00" + json.dumps({"payloadtype": "versionmsg", "signature": "",
      "payload": base64.b64encode(b'{"msgtype":"versionmsg"}').decode()}).encode())
write("api_request", b"\x00" + b'{"payloadtype":"getcolonymsg","payload":"e30=","signature":"' + b"ab" * 65 + b'"}')

for signer, kind, msg in [
    ("user", "subscribechannelmsg", {"processid": P, "name": "chat", "afterseq": 0, "timeout": 1}),
    ("user", "subscribeprocessmsg", {"processid": P, "executortype": "t", "state": 2, "timeout": 1,
                                     "colonyname": "dev"}),
    ("executor", "subscribeprocessesmsg", {"colonyname": "dev", "executortype": "t", "state": 0, "timeout": 1}),
]:
    write("websocket", bytes([0x80 | SIGNERS[signer]]) + kind.encode() + b"\n"
          + json.dumps({"msgtype": kind, **msg}).encode())
    payload = base64.b64encode(json.dumps({"msgtype": kind, **msg}).encode()).decode()
    env = json.dumps({"payloadtype": kind, "payload": payload, "signature": "00" * 65})
    write("websocket", b"\x00" + ws_frame(env))
write("websocket", bytes([0, 0x89, 0x80, 1, 2, 3, 4]))  # ping
write("websocket", bytes([0, 0x88, 0x82, 1, 2, 3, 4, 0x02, 0xea]))  # close 1000

# store records: a type byte then a record (version byte 1, postcard body)
write("store_records", bytes([0, 1]) + b"\x03dev" + b"\x40" + b"a" * 64)
write("store_records", bytes([9, 1]) + bytes(range(40)))
write("store_records", bytes([10]) + b"\x00" * 8 + b"\x01" + b"a" * 64)
write("store_records", bytes([3, 1]) + bytes(200))
write("store_records", bytes([11, 1]) + bytes(120))
write("store_records", bytes([12, 1]) + bytes(80))
write("store_records", bytes([13, 1]) + b"\x00\x03lab\x03dev\x00" + bytes(16))
write("store_records", bytes([14, 1]) + bytes(60))
write("store_records", bytes([15, 1]) + b"\x01s\x03dev\x02/d\x02s1\x01\x01\x01a" + bytes(8))
write("store_records", bytes([10]) + b"n" + b"\x00" * 8 + b"c" * 64)
