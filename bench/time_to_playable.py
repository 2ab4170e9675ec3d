#!/usr/bin/env python3
"""Time to first playable: how long after an upload completes a viewer can start watching.

A 1080p source (noisy testsrc2 + stereo sine, like bench/side_by_side.sh) is uploaded with tus
to a fresh streamlet-server (default ladder and preset), alternately one that publishes
progressively (the default) and one started with --no-progressive (the reference: the video
plays only once ready). For each run it prints, from the moment the last PATCH is answered:
  playable  the video's JSON says playable (processing or ready)
  first     the first segment of the first variant the master names answers 200 (a player
            can show the first frame)
  ready     status ready (the whole ladder published)
and the medians. For the progressive runs it also prints where the time to playable goes, from
the video's SSE stream and the output's file times (the local backend keeps a file's mtime when
it is revealed and published):
  picked    the job is picked up (status processing)
  progress  the first progress report (the source probed, the encoders opened, frames encoded)
  seg1 <r>  the first segment of each rung (and audio) is written
  poster    poster.jpg is written
A report, not a test: nothing is asserted. Run it under the bench lock:

  flock /work/bench.lock python3 bench/time_to_playable.py [--build build] [--duration 20]
                                                         [--runs 3] [--size 1920x1080]
"""
import argparse
import base64
import glob
import json
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request

p = argparse.ArgumentParser()
p.add_argument("--build", default="build")
p.add_argument("--duration", type=float, default=20)
p.add_argument("--runs", type=int, default=3)
p.add_argument("--size", default="1920x1080")
p.add_argument("--fps", type=int, default=30)
p.add_argument("--no-reference", action="store_true", help="progressive runs only")
args = p.parse_args()
server_bin = os.path.join(os.path.abspath(args.build), "server", "streamlet-server")
if not os.access(server_bin, os.X_OK):
    raise SystemExit(f"no {server_bin}: build streamlet-server first")

work = tempfile.mkdtemp(prefix="streamlet-ttp-")
source = os.path.join(work, "source.mp4")
subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y",
                "-f", "lavfi", "-i", f"testsrc2=size={args.size}:rate={args.fps},noise=alls=8:allf=t",
                "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
                "-t", str(args.duration), "-c:v", "libx264", "-preset", "veryfast", "-crf", "18",
                "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", source], check=True)
data = open(source, "rb").read()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def request(base, method, path, body=None, headers=None, token=None):
    h = dict(headers or {})
    if token:
        h["Authorization"] = "Bearer " + token
    req = urllib.request.Request(base + path, data=body, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def follow_events(base, video_id, token, t0, out):
    """Appends (seconds since t0[0], event, data) for each SSE event until the stream ends."""
    req = urllib.request.Request(f"{base}/v1/videos/{video_id}/events",
                                 headers={"Authorization": "Bearer " + token})
    try:
        with urllib.request.urlopen(req, timeout=600) as r:
            event = None
            for raw in r:
                line = raw.decode().rstrip("\n")
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event:
                    out.append((time.monotonic() - t0[0], event, json.loads(line[6:])))
    except OSError:
        pass


def file_times(data_dir, video_id, t0_wall):
    """Seconds after t0 at which each rung's first segment, and the poster, were written."""
    out = {}
    root = os.path.join(data_dir, "media", video_id)
    for seg in glob.glob(os.path.join(root, "*", "seg_00001.m4s")):
        out["seg1 " + os.path.basename(os.path.dirname(seg))] = os.stat(seg).st_mtime - t0_wall
    poster = os.path.join(root, "poster.jpg")
    if os.path.exists(poster):
        out["poster"] = os.stat(poster).st_mtime - t0_wall
    return out


def one_run(progressive):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    data_dir = tempfile.mkdtemp(dir=work)
    argv = [server_bin, "--listen", f"127.0.0.1:{port}", "--data", data_dir,
            "--api-key", "sk_bench_time_to_playable_0123456789"]
    if not progressive:
        argv.append("--no-progressive")
    log = open(os.path.join(data_dir, "server.log"), "w")
    proc = subprocess.Popen(argv, stdout=log, stderr=log)
    try:
        for _ in range(200):
            try:
                if request(base, "GET", "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.05)
        _, _, body = request(base, "POST", "/v1/auth/register",
                             json.dumps({"username": "bench", "password": "correct horse"}).encode(),
                             {"Content-Type": "application/json"})
        token = json.loads(body)["token"]
        meta = "filename " + base64.b64encode(b"source.mp4").decode()
        status, headers, _ = request(base, "POST", "/v1/uploads", b"",
                                     {"Tus-Resumable": "1.0.0", "Upload-Length": str(len(data)),
                                      "Upload-Metadata": meta}, token)
        assert status == 201, status
        video_id = headers["Streamlet-Video-Id"]
        location = headers["Location"]
        path = location if location.startswith("/") else "/" + location.split("/", 3)[3]
        events, t0_box = [], [time.monotonic()]
        follower = threading.Thread(target=follow_events,
                                    args=(base, video_id, token, t0_box, events), daemon=True)
        follower.start()
        time.sleep(0.2)  # the stream is open before the upload completes
        status, _, _ = request(base, "PATCH", path, data,
                               {"Tus-Resumable": "1.0.0", "Upload-Offset": "0",
                                "Content-Type": "application/offset+octet-stream"}, token)
        assert status == 204, status
        t0 = time.monotonic()
        t0_box[0], t0_wall = t0, time.time()
        playable = first = None
        while True:
            _, _, body = request(base, "GET", f"/v1/videos/{video_id}", token=token)
            v = json.loads(body)
            now = time.monotonic() - t0
            if v["status"] == "failed":
                raise SystemExit("transcode failed: " + v.get("status_reason", ""))
            if playable is None and v.get("playable"):
                playable = now
            if first is None and v.get("playable"):
                master = request(base, "GET", v["playback"]["hls"])[2].decode()
                variant = next(l for l in master.splitlines() if l and not l.startswith("#"))
                media_dir = v["playback"]["hls"].rsplit("/", 1)[0] + "/" + variant.rsplit("/", 1)[0]
                media = request(base, "GET", media_dir + "/" + variant.rsplit("/", 1)[1])[2].decode()
                segment = next(l for l in media.splitlines() if l and not l.startswith("#"))
                if request(base, "GET", media_dir + "/" + segment)[0] == 200:
                    first = time.monotonic() - t0
            if v["status"] == "ready":
                ready = time.monotonic() - t0
                follower.join(timeout=5)
                stages = {}
                for at, event, d in events:
                    if event == "status" and d.get("status") == "processing":
                        stages.setdefault("picked", at)
                    if event == "progress":
                        stages.setdefault("progress", at)
                    if event == "playable":
                        stages.setdefault("playable (SSE)", at)
                stages.update(file_times(data_dir, video_id, t0_wall))
                return playable, first, ready, stages
            time.sleep(0.05)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(data_dir, ignore_errors=True)


rows = {True: [], False: []}
sides = (True,) if args.no_reference else (True, False)
try:
    for i in range(args.runs):
        for progressive in sides:
            r = one_run(progressive)
            rows[progressive].append(r)
            print(f"run {i + 1} {'progressive' if progressive else 'reference  '}: "
                  f"playable {r[0]:6.2f} s  first segment {r[1]:6.2f} s  ready {r[2]:6.2f} s",
                  flush=True)
            if progressive:
                print("  " + "  ".join(f"{k} {v:.2f}" for k, v in sorted(r[3].items(), key=lambda kv: kv[1])),
                      flush=True)
finally:
    shutil.rmtree(work, ignore_errors=True)

print(f"\n{args.size} {args.fps} fps, {args.duration:g} s, default ladder and preset, "
      f"{args.runs} runs each (medians, seconds after the upload completed)")
print("| server | playable | first segment answers | ready |")
print("|---|---|---|---|")
for progressive in sides:
    m = [statistics.median(x[k] for x in rows[progressive]) for k in range(3)]
    name = "progressive (default)" if progressive else "--no-progressive (reference)"
    print(f"| {name} | {m[0]:.2f} | {m[1]:.2f} | {m[2]:.2f} |")

names = sorted({k for r in rows[True] for k in r[3]},
               key=lambda k: statistics.median(r[3][k] for r in rows[True] if k in r[3]))
print("\nwhere the time to playable goes (progressive, medians, seconds after the upload completed)")
print("| " + " | ".join(names) + " |")
print("|" + "---|" * len(names))
print("| " + " | ".join(f"{statistics.median(r[3][k] for r in rows[True] if k in r[3]):.2f}" for k in names) + " |")
