from bench.memparts import Parts, parts

SMAPS = """\
55d0c0000000-55d0c0100000 r-xp 00000000 08:01 1234 /usr/bin/python3.11
Size:               1024 kB
Rss:                 800 kB
55d0c1000000-55d0c3000000 rw-p 00000000 00:00 0                          [heap]
Size:              32768 kB
Rss:               18000 kB
7f0000000000-7f0004000000 rw-p 00000000 00:00 0
Size:              65536 kB
Rss:               70000 kB
7f0010000000-7f0010100000 r--p 00000000 08:01 99 /work/main/.venv/lib/python3.11/site-packages/orjson.so
Rss:                 200 kB
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]
Rss:                  12 kB
"""


def test_each_mappings_rss_is_counted_by_its_kind() -> None:
    assert parts(SMAPS, 17) == Parts(rss_kb=89012, heap_kb=18000, anon_kb=70000, file_kb=1000, sockets=17)
    assert "heap=17.6MB anon=68.4MB file=1.0MB socks=17" in parts(SMAPS, 17).line(1)
