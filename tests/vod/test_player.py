"""The file player with a fake clock, timers and connection: pacing, pause, seek, the end.

The player actor runs for real; time moves only when the test says, timers fire only when the
test fires them, and the media sink writes into a fake transport. A test knows the player is
done with a message because it asks (from outside the actor system, with a timeout) or
because the player armed its next timer.
"""

from __future__ import annotations

import queue
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from rtmp_actors.actors.actor_handle import ActorHandle
from rtmp_actors.actors.media_sink import MediaSink
from rtmp_actors.media.flv import FlvWriter, TagType
from rtmp_actors.protocol.messages import AudioData, DataMessage, VideoData, decode_message
from rtmp_actors.relay.stream import PlayRequest
from rtmp_actors.session.playback import PlaybackChoice
from rtmp_actors.session.server import PlayerNotice
from rtmp_actors.transport.io_loop import TimerHandle
from rtmp_actors.vod.library import VodLibrary, VodSettings
from rtmp_actors.vod.player import BACKOFF, FilePlayer
from tests.fakes import Clock, FakeTransport
from tests.wire import decoder_at

TIMEOUT = 5.0
STREAM_ID = 1
SEEKED, COMPLETED = b"<seeked>", b"<completed>"
HIGH_WATER = 1 << 20


class Recorder:
    """Stands for an actor handle: records ``tell(Class.method, ...)`` calls."""

    actor_ref = None

    def __init__(self) -> None:
        self.calls: queue.Queue[tuple[str, tuple[Any, ...]]] = queue.Queue()

    def tell(self, method: Callable[..., object], /, *args: Any, **_kwargs: Any) -> None:
        self.calls.put((method.__name__, args))

    def wait_for(self, name: str) -> tuple[Any, ...]:
        while True:
            called, args = self.calls.get(timeout=TIMEOUT)
            if called == name:
                return args


@dataclass
class Timers:
    """A scheduler whose timers the test fires."""

    armed: queue.Queue[tuple[float, Callable[[], None]]]

    def __call__(self, delay: float, callback: Callable[[], None]) -> TimerHandle:
        self.armed.put((delay, callback))
        return TimerHandle(delay, 0, callback)

    def next(self) -> tuple[float, Callable[[], None]]:
        return self.armed.get(timeout=TIMEOUT)


def write_file(path: Path) -> None:
    """3 s: a keyframe a second, an inter frame and an audio frame every 100 ms."""
    with open(path, "wb") as out:
        writer = FlvWriter(out)
        writer.write(TagType.VIDEO, 0, b"\x17\x00\x00\x00\x00\x01\x42")  # AVC configuration
        for ms in range(0, 3001, 100):
            kind = b"\x17" if ms % 1000 == 0 else b"\x27"
            writer.write(TagType.VIDEO, ms, kind + b"\x01\x00\x00\x00" + ms.to_bytes(4) * 10)
            writer.write(TagType.AUDIO, ms + 10, b"\xaf\x01" + ms.to_bytes(4))


class Playing:
    """A file player of ``film.flv`` with everything around it faked."""

    def __init__(self, root: Path, queued_bytes: int = 0) -> None:
        write_file(root / "film.flv")
        self.clock = Clock()
        self.timers = Timers(queue.Queue())
        library = VodLibrary(VodSettings(str(root), lead=0.5), self.timers, self.clock)
        self.session, receiver = Recorder(), Recorder()
        request = PlayRequest("c1", self.session, receiver, 7, "vod", "film", STREAM_ID)  # type: ignore[arg-type]
        library.play(request)
        assert self.session.wait_for("accept_request") == (7,)
        _, player = self.session.wait_for("open_media_sink")
        self.player: ActorHandle[FilePlayer] = player
        self.transport = FakeTransport()
        self.transport.queued_bytes = queued_bytes
        notices = {PlayerNotice.SEEKED: SEEKED, PlayerNotice.COMPLETED: COMPLETED}
        sink = MediaSink(self.transport, STREAM_ID, 4096, HIGH_WATER, 1.0, notices)
        self.ask(FilePlayer.media_sink_opened, "c1", STREAM_ID, sink)

    def ask(self, method: Callable[..., object], *args: Any) -> None:
        self.player.ask(method, *args).get(timeout=TIMEOUT)  # type: ignore[arg-type]

    def written(self) -> list[Any]:
        """Everything written since the last call: media as (kind, ms), notices, metadata."""
        found: list[Any] = []
        decoder = decoder_at(4096)
        for data in self.transport.sent:  # the sink writes notices on their own
            if data in (SEEKED, COMPLETED):
                found.append(data)
                continue
            for raw in decoder.receive_data(data):
                content = decode_message(raw).content
                if isinstance(content, VideoData | AudioData):
                    kind = "video" if isinstance(content, VideoData) else "audio"
                    found.append((kind, raw.timestamp))
                elif isinstance(content, DataMessage):
                    found.append((content.name, content.values[1]["duration"]))  # type: ignore[index]
        self.transport.sent.clear()
        return found

    def next_timer(self) -> float:
        """Wait until the player arms its next timer (so it wrote what was due); its delay."""
        self._delay, self._callback = self.timers.next()
        return self._delay

    def fire(self) -> None:
        """Move the clock on to the last armed timer and fire it."""
        self.clock.now += self._delay
        self._callback()

    def barrier(self) -> None:
        """Wait until the player has handled everything told so far (the choice is as it was)."""
        self.ask(FilePlayer.playback_changed, "c1", STREAM_ID, PlaybackChoice(STREAM_ID))


def media_between(first: int, last: int) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    for ms in range(0, 3001, 100):
        out += [("video", ms), ("audio", ms + 10)]
    return [m for m in out if first <= m[1] <= last]


def test_media_goes_a_lead_ahead_of_the_clock(tmp_path: Path) -> None:
    playing = Playing(tmp_path)
    assert playing.next_timer() == pytest.approx(0.01)  # the audio at 510 ms is due at 10 ms
    written = playing.written()
    assert written[0] == ("onMetaData", 3.01)  # the indexed duration
    assert written[1:] == [("video", 0), *media_between(0, 500)]
    playing.fire()
    assert playing.next_timer() == pytest.approx(0.09)
    assert playing.written() == [("audio", 510)]
    playing.fire()
    assert playing.next_timer() == pytest.approx(0.01)
    assert playing.written() == [("video", 600)]


def test_pause_holds_everything_and_resume_goes_on(tmp_path: Path) -> None:
    playing = Playing(tmp_path)
    playing.next_timer()
    playing.written()
    paused = PlaybackChoice(STREAM_ID, paused=True)
    playing.ask(FilePlayer.playback_changed, "c1", STREAM_ID, paused)
    playing.fire()  # the timer armed before the pause: stale
    playing.ask(FilePlayer.playback_changed, "c1", STREAM_ID, paused)
    assert playing.written() == []
    assert playing.timers.armed.empty()  # and none is armed while paused
    playing.clock.now += 60
    playing.ask(FilePlayer.playback_changed, "c1", STREAM_ID, PlaybackChoice(STREAM_ID))
    assert playing.next_timer() == pytest.approx(0.01)
    playing.fire()
    playing.next_timer()
    assert playing.written() == [("audio", 510)]  # on from 510 ms, not from 60 s later


def test_a_seek_lands_on_the_keyframe_before_and_the_end_is_announced(tmp_path: Path) -> None:
    playing = Playing(tmp_path)
    playing.next_timer()
    playing.written()
    seek = PlaybackChoice(STREAM_ID, seek=2700)
    playing.ask(FilePlayer.playback_changed, "c1", STREAM_ID, seek)
    playing.next_timer()
    written = playing.written()
    # The configuration comes first, with the seek point's timestamp, then the keyframe.
    assert written[:3] == [SEEKED, ("onMetaData", 3.01), ("video", 2000)]
    assert written[3:] == media_between(2000, 2500)
    rest = []
    while playing.timers.armed.empty():
        playing.fire()
        playing.barrier()
        rest += playing.written()
        if COMPLETED in rest:
            break
        playing.next_timer()
    assert rest == [*media_between(2501, 3010), COMPLETED]
    assert playing.timers.armed.empty()


def test_a_congested_connection_is_waited_for_then_dropped(tmp_path: Path) -> None:
    playing = Playing(tmp_path, queued_bytes=HIGH_WATER)  # the player reads nothing
    assert playing.next_timer() == BACKOFF
    assert playing.written() == [("onMetaData", 3.01), ("video", 0)]  # configuration only
    for _ in range(int(1.0 / BACKOFF) + 2):  # max_congestion is 1 s
        playing.fire()
        playing.barrier()
        if playing.transport.aborted:
            break
        assert playing.next_timer() == BACKOFF
    assert playing.transport.aborted == "the peer stayed congested for over 1.0 s"
    assert playing.written() == []
    assert playing.timers.armed.empty()
