"""What a player asked to receive of one playing stream, shared with its media sink."""

from __future__ import annotations

from rtmp_actors.protocol.prepared import PreparedMessage

__all__ = ["PlaybackGate"]


class PlaybackGate:
    """A player's pause and receiveAudio/receiveVideo choices for one playing stream.

    The connection's session actor writes it when the player changes its mind; the media
    sink's owner (a live stream's actor) reads it for every message it writes past the
    session. Single attribute reads and writes are atomic in Python, and a message more or
    less around the moment of a change does not matter, so there is no lock.

    Attributes:
        audio: Whether audio goes to the player.
        video: Whether video goes to the player.
        open: Whether everything goes (the fast path: no per-message look).
        keyframe_needed: Video was just turned back on; the sink must restart it at a
            keyframe (the sink clears this once it has arranged that).
    """

    __slots__ = ("audio", "keyframe_needed", "open", "video")

    def __init__(self) -> None:
        self.audio = True
        self.video = True
        self.open = True
        self.keyframe_needed = False

    def update(self, *, paused: bool, receive_audio: bool, receive_video: bool) -> None:
        """Take the player's current choices (from the session's stream state)."""
        video = receive_video and not paused
        if video and not self.video:
            self.keyframe_needed = True  # frames were skipped: restart at a keyframe
        self.audio = receive_audio and not paused
        self.video = video
        self.open = self.audio and video

    def allows(self, message: PreparedMessage) -> bool:
        """Whether ``message`` goes to the player (codec configuration always does)."""
        if self.open or not message.is_media:
            return True
        if self.video if message.is_video else self.audio:
            return True
        return message.frame_flags.sequence_header  # tiny, and needed when media resumes
