"""PlaybackRules, sans-I/O: what a player gets of one playing stream, message by message.

A table of situations times message kinds, then Hypothesis over arbitrary sequences of
choices, congestion levels, keyframe requests and media.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rtmp_actors.media.frames import FrameFlags, frame_flags
from rtmp_actors.session.playback import PlaybackChoice, PlaybackRules, Verdict

HIGH_WATER = 1000
MAX_CONGESTION = 5.0
OVER = HIGH_WATER + 1

# The message kinds, classified from real FLV tag bodies as the writers classify them.
PAYLOADS = {
    "audio": (False, b"\xaf\x01aac"),
    "audio config": (False, b"\xaf\x00\x12\x10"),
    "keyframe": (True, b"\x17\x01\x00\x00\x00key"),
    "inter": (True, b"\x27\x01\x00\x00\x00inter"),
    "video config": (True, b"\x17\x00\x00\x00\x00avcC"),
    "video end": (True, b"\x17\x02\x00\x00\x00"),  # AVC end of sequence
}
KINDS: dict[str, tuple[bool, FrameFlags]] = {
    name: (video, frame_flags(video, data)) for name, (video, data) in PAYLOADS.items()
}
KIND_NAMES = tuple(KINDS)
CONFIGS = frozenset({"audio config", "video config", "video end"})


def test_the_kinds_are_classified_as_the_table_assumes() -> None:
    assert {
        "audio": (False, FrameFlags(configuration=False, keyframe=False)),
        "audio config": (False, FrameFlags(configuration=True, keyframe=False)),
        "keyframe": (True, FrameFlags(configuration=False, keyframe=True)),
        "inter": (True, FrameFlags(configuration=False, keyframe=False)),
        "video config": (True, FrameFlags(configuration=True, keyframe=False)),
        "video end": (True, FrameFlags(configuration=True, keyframe=False)),
    } == KINDS


@dataclass
class Player:
    """Rules plus the connection's queue and clock, as a writer would see them."""

    rules: PlaybackRules = field(default_factory=lambda: PlaybackRules(HIGH_WATER, MAX_CONGESTION))
    queued: int = 0
    now: float = 0.0

    def admit(self, kind: str) -> Verdict:
        video, flags = KINDS[kind]
        return self.rules.admit(video=video, flags=flags, queued_bytes=self.queued, now=self.now)

    def choose(self, **choice: bool) -> None:
        self.rules.apply(PlaybackChoice(1, **choice))

    def at(self, queued: int, now: float | None = None) -> Player:
        self.queued = queued
        if now is not None:
            self.now = now
        return self


SITUATIONS: dict[str, Callable[[], Player]] = {}


def situation(name: str) -> Callable[[Callable[[], Player]], Callable[[], Player]]:
    def register(make: Callable[[], Player]) -> Callable[[], Player]:
        SITUATIONS[name] = make
        return make

    return register


def choosing(**choice: bool) -> Player:
    player = Player()
    player.choose(**choice)
    return player


def starting_at_keyframe() -> Player:
    return Player(PlaybackRules(HIGH_WATER, MAX_CONGESTION, start_at_keyframe=True))


def admitted(player: Player, *kinds: str) -> Player:
    for kind in kinds:
        player.admit(kind)
    return player


@situation("open")
def _open() -> Player:
    return Player()


@situation("at the mark")
def _at_the_mark() -> Player:
    return Player().at(HIGH_WATER)


@situation("paused")
def _paused() -> Player:
    return choosing(paused=True)


@situation("audio off")
def _audio_off() -> Player:
    return choosing(audio=False)


@situation("video off")
def _video_off() -> Player:
    return choosing(video=False)


@situation("audio and video off")
def _both_off() -> Player:
    return choosing(audio=False, video=False)


@situation("paused, video off too")
def _paused_video_off() -> Player:
    return choosing(paused=True, video=False)


@situation("video back on after a skipped frame")
def _video_back_on() -> Player:
    player = admitted(choosing(video=False), "inter")
    player.choose()
    return player


@situation("unpaused after a skipped keyframe")
def _unpaused() -> Player:
    player = admitted(choosing(paused=True), "keyframe")
    player.choose()
    return player


@situation("video back on, then a keyframe")
def _video_back_on_keyframe() -> Player:
    return admitted(_video_back_on(), "keyframe")


@situation("video back on, then only configuration")
def _video_back_on_config() -> Player:
    return admitted(_video_back_on(), "video config", "audio", "audio config")


@situation("audio back on after a skipped frame")
def _audio_back_on() -> Player:
    player = admitted(choosing(audio=False), "audio")
    player.choose()
    return player


@situation("congested")
def _congested() -> Player:
    return Player().at(OVER)


@situation("congested, audio off")
def _congested_audio_off() -> Player:
    return choosing(audio=False).at(OVER)


@situation("congested, video off")
def _congested_video_off() -> Player:
    return choosing(video=False).at(OVER)


@situation("congested, paused")
def _congested_paused() -> Player:
    return choosing(paused=True).at(OVER)


@situation("drained after a congestion drop")
def _after_drop() -> Player:
    return admitted(Player().at(OVER), "inter").at(0)


@situation("drained after an audio congestion drop")
def _after_audio_drop() -> Player:
    return admitted(Player().at(OVER), "audio").at(0)


@situation("drained after a congestion drop and a congested keyframe")
def _after_drop_keyframe() -> Player:
    return admitted(Player().at(OVER), "inter", "keyframe").at(0)


@situation("drained after a congestion drop and configuration")
def _after_drop_config() -> Player:
    return admitted(Player().at(OVER), "inter", "video config").at(0)


@situation("congested for exactly max_congestion")
def _congested_exactly() -> Player:
    return admitted(Player().at(OVER, 10.0), "audio").at(OVER, 10.0 + MAX_CONGESTION)


@situation("congested for over max_congestion")
def _congested_too_long() -> Player:
    return admitted(Player().at(OVER, 10.0), "audio").at(OVER, 10.25 + MAX_CONGESTION)


@situation("below the mark after over max_congestion")
def _drained_after_too_long() -> Player:
    return admitted(Player().at(OVER, 10.0), "audio").at(HIGH_WATER, 60.0)


@situation("congested again after an uncongested admit")
def _congested_again() -> Player:
    player = admitted(Player().at(OVER, 10.0), "audio")
    admitted(player.at(HIGH_WATER, 12.0), "audio")
    return player.at(OVER, 16.0)  # over 5 s since 10, but the clock restarts at 16


@situation("congested again after clear_to_send said yes")
def _congested_after_clear() -> Player:
    player = admitted(Player().at(OVER, 10.0), "audio")
    assert player.rules.clear_to_send(0)
    return player.at(OVER, 16.0)


@situation("congested on after clear_to_send said no")
def _congested_after_no() -> Player:
    player = admitted(Player().at(OVER, 10.0), "audio")
    assert not player.rules.clear_to_send(OVER)
    return player.at(OVER, 16.0)


@situation("congested long, but only configuration admitted")
def _congested_only_config() -> Player:
    player = admitted(Player().at(OVER, 10.0), "video config", "audio config")
    return player.at(OVER, 16.0)  # configuration does not start the clock


@situation("starting at a keyframe")
def _start() -> Player:
    return starting_at_keyframe()


@situation("starting at a keyframe, after audio and configuration")
def _start_config() -> Player:
    return admitted(starting_at_keyframe(), "audio", "video config", "audio config")


@situation("starting at a keyframe, after the first keyframe")
def _start_keyframe() -> Player:
    return admitted(starting_at_keyframe(), "keyframe")


@situation("keyframe required")
def _required() -> Player:
    player = Player()
    player.rules.require_keyframe()
    return player


@situation("keyframe required, then a keyframe")
def _required_keyframe() -> Player:
    return admitted(_required(), "keyframe")


@situation("new play after a congestion drop")
def _new_play_after_drop() -> Player:
    player = _after_drop()
    player.choose(new_play=True)
    return player


@situation("new play after a keyframe was required")
def _new_play_after_required() -> Player:
    player = _required()
    player.choose(new_play=True)
    return player


@situation("new play, starting at a keyframe")
def _new_play_start() -> Player:
    player = starting_at_keyframe()
    player.choose(new_play=True)
    return player


@situation("new play after video was skipped")
def _new_play_after_skip() -> Player:
    player = admitted(choosing(video=False), "keyframe", "inter")
    player.choose(new_play=True)
    return player


@situation("new play while congested for long")
def _new_play_congested() -> Player:
    player = admitted(Player().at(OVER, 10.0), "audio")
    player.choose(new_play=True)
    return player.at(OVER, 16.0)


@situation("new play, paused")
def _new_play_paused() -> Player:
    player = _after_drop()
    player.choose(new_play=True, paused=True)
    return player


# Expected outcome codes: the verdict, and whether it counts in ``dropped``.
S = (Verdict.SEND, 0)
D = (Verdict.DROP, 1)  # dropped for congestion or waiting for a keyframe: counted
M = (Verdict.DROP, 0)  # muted: the player turned it off; not counted
X = (Verdict.DISCONNECT, 1)

EXPECTED: dict[str, tuple[tuple[Verdict, int], ...]] = {
    # situation                                          audio a-conf keyframe inter v-conf v-end
    "open":                                              (S,   S,     S,       S,    S,     S),
    "at the mark":                                       (S,   S,     S,       S,    S,     S),
    "paused":                                            (M,   S,     M,       M,    S,     S),
    "audio off":                                         (M,   S,     S,       S,    S,     S),
    "video off":                                         (S,   S,     M,       M,    S,     S),
    "audio and video off":                               (M,   S,     M,       M,    S,     S),
    "paused, video off too":                             (M,   S,     M,       M,    S,     S),
    "video back on after a skipped frame":               (S,   S,     S,       D,    S,     S),
    "unpaused after a skipped keyframe":                 (S,   S,     S,       D,    S,     S),
    "video back on, then a keyframe":                    (S,   S,     S,       S,    S,     S),
    "video back on, then only configuration":            (S,   S,     S,       D,    S,     S),
    "audio back on after a skipped frame":               (S,   S,     S,       S,    S,     S),
    "congested":                                         (D,   S,     S,       D,    S,     S),
    "congested, audio off":                              (M,   S,     S,       D,    S,     S),
    "congested, video off":                              (D,   S,     M,       M,    S,     S),
    "congested, paused":                                 (M,   S,     M,       M,    S,     S),
    "drained after a congestion drop":                   (S,   S,     S,       D,    S,     S),
    "drained after an audio congestion drop":            (S,   S,     S,       S,    S,     S),
    "drained after a congestion drop and a congested keyframe": (S, S, S,      S,    S,     S),
    "drained after a congestion drop and configuration": (S,   S,     S,       D,    S,     S),
    "congested for exactly max_congestion":              (D,   S,     S,       D,    S,     S),
    "congested for over max_congestion":                 (X,   S,     X,       X,    S,     S),
    "below the mark after over max_congestion":          (S,   S,     S,       S,    S,     S),
    "congested again after an uncongested admit":        (D,   S,     S,       D,    S,     S),
    "congested again after clear_to_send said yes":      (D,   S,     S,       D,    S,     S),
    "congested on after clear_to_send said no":          (X,   S,     X,       X,    S,     S),
    "congested long, but only configuration admitted":   (D,   S,     S,       D,    S,     S),
    "starting at a keyframe":                            (S,   S,     S,       D,    S,     S),
    "starting at a keyframe, after audio and configuration": (S, S,   S,       D,    S,     S),
    "starting at a keyframe, after the first keyframe":  (S,   S,     S,       S,    S,     S),
    "keyframe required":                                 (S,   S,     S,       D,    S,     S),
    "keyframe required, then a keyframe":                (S,   S,     S,       S,    S,     S),
    "new play after a congestion drop":                  (S,   S,     S,       S,    S,     S),
    "new play after a keyframe was required":            (S,   S,     S,       S,    S,     S),
    "new play, starting at a keyframe":                  (S,   S,     S,       S,    S,     S),
    "new play after video was skipped":                  (S,   S,     S,       S,    S,     S),
    "new play while congested for long":                 (D,   S,     S,       D,    S,     S),
    "new play, paused":                                  (M,   S,     M,       M,    S,     S),
}  # fmt: skip

ROWS = [
    pytest.param(name, kind, expected, id=f"{name} / {kind}")
    for name, outcomes in EXPECTED.items()
    for kind, expected in zip(KIND_NAMES, outcomes, strict=True)
]


def test_every_situation_has_a_row() -> None:
    assert set(EXPECTED) == set(SITUATIONS)


@pytest.mark.parametrize(("name", "kind", "expected"), ROWS)
def test_verdicts(name: str, kind: str, expected: tuple[Verdict, int]) -> None:
    player = SITUATIONS[name]()
    before = player.rules.dropped
    verdict = player.admit(kind)
    assert (verdict, player.rules.dropped - before) == expected


@pytest.mark.parametrize("name", list(EXPECTED))
def test_clear_to_send_exactly_when_every_kind_would_be_sent(name: str) -> None:
    everything_sent = all(outcome == S for outcome in EXPECTED[name])
    player = SITUATIONS[name]()
    assert player.rules.clear_to_send(player.queued) is everything_sent


@pytest.mark.parametrize(
    ("queued", "expected"),
    [(0, True), (HIGH_WATER - 1, True), (HIGH_WATER, True), (OVER, False), (10 * OVER, False)],
)
def test_clear_to_send_is_about_the_high_water_mark(queued: int, expected: bool) -> None:
    assert PlaybackRules(HIGH_WATER, MAX_CONGESTION).clear_to_send(queued) is expected


@pytest.mark.parametrize(
    ("name", "waiting"),
    [
        ("open", False),
        ("video off", False),
        ("video back on after a skipped frame", True),
        ("video back on, then a keyframe", False),
        ("drained after a congestion drop", True),
        ("drained after an audio congestion drop", False),
        ("starting at a keyframe", True),
        ("starting at a keyframe, after the first keyframe", False),
        ("keyframe required", True),
        ("new play after a congestion drop", False),
    ],
)
def test_waiting_for_keyframe(name: str, waiting: bool) -> None:
    assert SITUATIONS[name]().rules.waiting_for_keyframe is waiting


def test_the_disconnect_boundary_is_strictly_over_max_congestion() -> None:
    player = admitted(Player().at(OVER, 100.0), "audio")
    for now in (100.0, 101.0, 100.0 + MAX_CONGESTION):
        assert player.at(OVER, now).admit("audio") is Verdict.DROP
    assert player.at(OVER, 100.0 + MAX_CONGESTION + 1e-9).admit("keyframe") is Verdict.DISCONNECT
    assert player.admit("video config") is Verdict.SEND  # configuration still goes


def test_dropped_counts_congestion_and_keyframe_waits_but_not_muted_media() -> None:
    player = Player()
    player.choose(paused=True)
    admitted(player, "audio", "keyframe", "inter")
    assert player.rules.dropped == 0  # muted
    player.choose()
    admitted(player, "inter", "inter")  # waiting for a keyframe after the pause
    assert player.rules.dropped == 2
    admitted(player.at(OVER, 1.0), "audio", "keyframe", "inter", "video config", "audio config")
    assert player.rules.dropped == 4  # audio and inter, not keyframe or configuration
    assert player.at(OVER, 1.0 + MAX_CONGESTION + 1).admit("audio") is Verdict.DISCONNECT
    assert player.rules.dropped == 5  # the message the disconnect was decided on
    assert player.rules.describe() == (
        f"the peer stayed congested for over {MAX_CONGESTION} s (5 media messages dropped)"
    )


def test_choices_are_values_and_default_to_everything_on() -> None:
    choice = PlaybackChoice(3)
    assert (choice.paused, choice.audio, choice.video, choice.new_play) == (
        False,
        True,
        True,
        False,
    )
    assert choice == PlaybackChoice(3, paused=False)
    with pytest.raises(AttributeError):
        choice.paused = True  # type: ignore[misc]


def test_video_off_and_on_with_no_frame_in_between_does_not_wait_for_a_keyframe() -> None:
    # The rules restart video at a keyframe only when a frame was actually skipped: with
    # nothing skipped, the next inter frame still has everything it depends on.
    player = choosing(video=False)
    player.choose()
    assert player.admit("inter") is Verdict.SEND
    player = admitted(choosing(paused=True), "audio")  # only audio arrived while paused
    player.choose()
    assert player.admit("inter") is Verdict.SEND


@pytest.mark.parametrize("off", [{"paused": True}, {"audio": False, "video": False}])
def test_an_uncongested_admit_while_everything_is_off_resets_the_congestion_clock(
    off: dict[str, bool],
) -> None:
    player = admitted(Player().at(OVER, 0.0), "audio")  # congested: the clock starts at 0
    player.choose(**off)
    admitted(player.at(0, 1.0), "audio", "keyframe", "inter")  # drained, while off
    assert not player.rules.clear_to_send(0)
    player.choose()
    assert player.at(OVER, 60.0).admit("audio") is Verdict.DROP  # congested again: from 60


# --- Hypothesis: arbitrary sequences of steps -------------------------------------------------

LEVELS = (0, HIGH_WATER // 2, HIGH_WATER, OVER, 10 * HIGH_WATER)

rare = st.integers(0, 5).map(lambda n: n == 0)
choices = st.builds(
    PlaybackChoice,
    st.just(1),
    paused=st.booleans(),
    audio=st.booleans(),
    video=st.booleans(),
    new_play=rare,
)
steps = st.lists(
    st.one_of(
        st.tuples(st.just("choose"), choices),
        st.tuples(st.just("queue"), st.sampled_from(LEVELS)),
        st.tuples(st.just("wait"), st.sampled_from([0.0, 0.5, MAX_CONGESTION, 2 * MAX_CONGESTION])),
        st.tuples(st.just("require_keyframe"), st.none()),
        st.tuples(st.just("clear_to_send"), st.none()),
        st.tuples(st.just("media"), st.sampled_from(KIND_NAMES)),
        st.tuples(st.just("media"), st.sampled_from(["keyframe", "inter", "inter", "audio"])),
    ),
    max_size=60,
)


@dataclass
class Step:
    """One media message admitted during a run, with what was in force when it came."""

    kind: str
    verdict: Verdict
    choice: PlaybackChoice
    queued: int
    counted: int  # how much ``dropped`` grew


@dataclass
class Run:
    rules: PlaybackRules
    choice: PlaybackChoice = field(default_factory=lambda: PlaybackChoice(1))
    queued: int = 0
    now: float = 0.0
    disconnected: bool = False

    def play(self, script: list[tuple[str, Any]]) -> Iterator[tuple[str, Any]]:
        """Run the steps, yielding each (action, outcome); stops after a DISCONNECT.

        The writer aborts the connection on DISCONNECT, so nothing after it is ever written.
        """
        rules = self.rules
        for action, arg in script:
            if action == "choose":
                self.choice = arg
                rules.apply(arg)
                yield action, arg
            elif action == "queue":
                self.queued = arg
            elif action == "wait":
                self.now += arg
            elif action == "require_keyframe":
                rules.require_keyframe()
                yield action, None
            elif action == "clear_to_send":
                yield action, rules.clear_to_send(self.queued)
            else:
                video, flags = KINDS[arg]
                before = rules.dropped
                verdict = rules.admit(
                    video=video, flags=flags, queued_bytes=self.queued, now=self.now
                )
                yield "media", Step(arg, verdict, self.choice, self.queued, rules.dropped - before)
                if verdict is Verdict.DISCONNECT:
                    self.disconnected = True
                    return


def on(choice: PlaybackChoice, kind: str) -> bool:
    """Whether the player takes this kind of media."""
    wanted = choice.video if KINDS[kind][0] else choice.audio
    return wanted and not choice.paused


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(steps, st.booleans())
def test_no_inter_frame_is_delivered_after_a_missing_video_frame(
    script: list[tuple[str, Any]], start_at_keyframe: bool
) -> None:
    rules = PlaybackRules(HIGH_WATER, MAX_CONGESTION, start_at_keyframe=start_at_keyframe)
    broken = start_at_keyframe  # a frame the next inter frame depends on is missing
    fresh_start = start_at_keyframe  # since the start: no keyframe yet and no new play
    for action, outcome in Run(rules).play(script):
        if action == "require_keyframe":
            broken = True  # the writer left a gap
        elif action == "choose" and outcome.new_play:
            broken = fresh_start = False  # a new play: earlier frames do not matter
        elif action == "media" and outcome.kind in {"keyframe", "inter"}:
            if outcome.verdict is not Verdict.SEND:
                broken = True
                if outcome.verdict is Verdict.DISCONNECT:
                    continue  # the last step: the writer aborts the connection
            elif outcome.kind == "keyframe":
                broken = fresh_start = False
            else:
                assert not broken, "an inter frame went out after a missing frame"
                assert not fresh_start, "an inter frame went out before the first keyframe"
        assert rules.waiting_for_keyframe is broken


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(steps, st.booleans())
def test_codec_configuration_is_always_delivered(
    script: list[tuple[str, Any]], start_at_keyframe: bool
) -> None:
    rules = PlaybackRules(HIGH_WATER, MAX_CONGESTION, start_at_keyframe=start_at_keyframe)
    for action, outcome in Run(rules).play([*script, *(("media", k) for k in sorted(CONFIGS))]):
        if action == "media" and outcome.kind in CONFIGS:
            assert (outcome.verdict, outcome.counted) == (Verdict.SEND, 0)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(steps, st.booleans())
def test_nothing_of_a_media_type_is_delivered_while_it_is_off(
    script: list[tuple[str, Any]], start_at_keyframe: bool
) -> None:
    rules = PlaybackRules(HIGH_WATER, MAX_CONGESTION, start_at_keyframe=start_at_keyframe)
    for action, outcome in Run(rules).play(script):
        if (
            action == "media"
            and outcome.kind not in CONFIGS
            and not on(outcome.choice, outcome.kind)
        ):
            # Dropped without counting; or the peer stayed congested and is to be cut off,
            # which the congestion clock decides whatever the player chose.
            assert (outcome.verdict, outcome.counted) in (
                (Verdict.DROP, 0),
                (Verdict.DISCONNECT, 1),
            )


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(steps, st.booleans())
def test_what_is_on_goes_unless_congested_or_waiting(
    script: list[tuple[str, Any]], start_at_keyframe: bool
) -> None:
    rules = PlaybackRules(HIGH_WATER, MAX_CONGESTION, start_at_keyframe=start_at_keyframe)
    dropped = 0
    for action, outcome in Run(rules).play(script):
        if action != "media":
            continue
        dropped += outcome.counted
        if outcome.kind in CONFIGS or not on(outcome.choice, outcome.kind):
            continue
        congested = outcome.queued > HIGH_WATER
        if outcome.verdict is Verdict.DISCONNECT:
            assert congested
        elif outcome.kind == "keyframe":
            assert outcome.verdict is Verdict.SEND  # keyframes always go
        elif outcome.kind == "audio":
            assert outcome.verdict is (Verdict.DROP if congested else Verdict.SEND)
        elif congested:
            assert outcome.verdict is Verdict.DROP
        assert outcome.counted == (outcome.verdict is not Verdict.SEND)
    assert rules.dropped == dropped


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(steps, st.booleans())
def test_clear_to_send_is_true_exactly_when_every_kind_would_be_sent(
    script: list[tuple[str, Any]], start_at_keyframe: bool
) -> None:
    rules = PlaybackRules(HIGH_WATER, MAX_CONGESTION, start_at_keyframe=start_at_keyframe)
    run = Run(rules)

    def check() -> None:
        for queued in LEVELS:
            every_kind_sent = all(
                copy.copy(rules).admit(video=video, flags=flags, queued_bytes=queued, now=run.now)
                is Verdict.SEND
                for video, flags in KINDS.values()
            )
            assert copy.copy(rules).clear_to_send(queued) is every_kind_sent

    check()
    for action, outcome in run.play(script):
        if action == "clear_to_send":
            assert outcome is (
                rules.waiting_for_keyframe is False
                and on(run.choice, "audio")
                and on(run.choice, "inter")
                and run.queued <= HIGH_WATER
            )
        check()
