"""The playback clock, with explicit times: lead, pause, resume, seek."""

from __future__ import annotations

import math

from rtmp_actors.vod.clock import PlaybackClock


def test_tags_are_due_a_lead_ahead_of_real_time() -> None:
    clock = PlaybackClock(lead=1.0, now=100.0)
    assert clock.due(100.0) == 1000.0
    assert clock.due(102.5) == 3500.0
    assert clock.wait(4000.0, now=102.5) == 0.5
    assert clock.wait(10.0, now=102.5) == 0.0  # already due


def test_pausing_freezes_media_time_and_resuming_goes_on_from_there() -> None:
    clock = PlaybackClock(lead=0.5, now=0.0)
    clock.pause(2.0)
    assert clock.paused
    assert clock.media_time(50.0) == 2000.0
    assert math.isinf(clock.due(50.0))
    assert clock.wait(2100.0, now=50.0) is None
    clock.pause(60.0)  # a second pause changes nothing
    clock.resume(100.0)
    assert not clock.paused
    assert clock.media_time(101.0) == 3000.0
    assert clock.due(101.0) == 3500.0
    clock.resume(200.0)  # not paused: nothing changes
    assert clock.media_time(102.0) == 4000.0


def test_a_seek_restarts_the_mapping_and_keeps_a_pause() -> None:
    clock = PlaybackClock(lead=1.0, now=0.0)
    clock.seek(30_000.0, now=5.0)
    assert clock.media_time(6.0) == 31_000.0
    clock.pause(7.0)
    clock.seek(1000.0, now=8.0)
    assert clock.paused
    assert clock.media_time(20.0) == 1000.0
    clock.resume(20.0)
    assert clock.due(21.0) == 3000.0
