#!/usr/bin/env bash
# Why a video's like count is a column (videos.like_count, kept by triggers on video_likes)
# rather than counted when the video is read: builds a SQLite file with the catalog's
# video_likes table, one video with N likes and one with 1,000, and times the count (best of
# 5, sqlite3's .timer) that every read of the video would otherwise run.
# Usage: flock /work/bench.lock bash bench/likes_count.sh [N=100000]
set -euo pipefail
n=${1:-100000}
db=$(mktemp /tmp/streamlet-likes.XXXXXX.db)
trap 'rm -f "$db"' EXIT
sqlite3 "$db" <<SQL
CREATE TABLE video_likes (video_id TEXT NOT NULL, user_id TEXT NOT NULL,
  created_at_ms INTEGER NOT NULL, PRIMARY KEY (video_id, user_id)) WITHOUT ROWID;
WITH RECURSIVE i(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM i WHERE k < $n)
INSERT INTO video_likes SELECT 'popularvideo', printf('user%09d', k), 0 FROM i;
WITH RECURSIVE i(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM i WHERE k < 1000)
INSERT INTO video_likes SELECT 'smallvideo01', printf('user%09d', k), 0 FROM i;
SQL
for video in popularvideo smallvideo01; do
  best=$(for _ in 1 2 3 4 5; do
    printf '.timer on\nSELECT count(*) FROM video_likes WHERE video_id = %s;\n' "'$video'" |
      sqlite3 "$db" | sed -n 's/^Run Time: real \([0-9.]*\).*/\1/p'
  done | sort -n | head -1)
  likes=$(sqlite3 "$db" "SELECT count(*) FROM video_likes WHERE video_id = '$video'")
  echo "$video: $likes likes, count in ${best} s (best of 5)"
done
