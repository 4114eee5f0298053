"""Songs with exact ground truth: beats, downbeats, meter, sections and chorus spans.

Why render our own: no copyrighted audio ships with the repo, and an evaluation needs
annotations that are exact, not hand-tapped. The songs are built to be hard in the ways real
pop is hard for beat, downbeat and chorus trackers, not to be easy:
  - intros of 2-16 bars (sometimes without drums), pre-choruses, bridges, double choruses,
    a key change in the last chorus, outros;
  - 4/4, 3/4 and 6/8 (6/8 is counted as two dotted-quarter beats per bar);
  - swing, human timing jitter, tempo drift and tempo steps between sections;
  - several drum kits, pattern styles (rock, four-on-the-floor, half-time, syncopated) and
    timbres for bass, chords and lead; chords held for one or two bars.
A song is a deterministic function of its seed: the same seed renders the same samples.
Annotated beat times are the metrical grid; played notes scatter around it by the jitter.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

#: Section kinds, as AudioService reports them.
INTRO, VERSE, PRE_CHORUS, CHORUS, BRIDGE, OUTRO = ("intro", "verse", "pre_chorus", "chorus",
                                                   "bridge", "outro")
_PROGRESSIONS = [  # scale degrees (0-based, major scale) of four chords
    (0, 5, 3, 4), (0, 4, 5, 3), (5, 3, 0, 4), (3, 4, 0, 5), (0, 3, 4, 4), (1, 4, 0, 5),
    (3, 0, 4, 5), (0, 2, 3, 4), (5, 4, 3, 4), (3, 5, 4, 0)]
_MAJOR = np.array([0, 2, 4, 5, 7, 9, 11])
_TIMBRES = {  # relative harmonic amplitudes
    "organ": (1.0, 0.6, 0.45, 0.0, 0.3, 0.0, 0.15, 0.1),
    "saw": tuple(1.0 / k for k in range(1, 11)),
    "square": tuple((1.0 / k) if k % 2 else 0.0 for k in range(1, 11)),
    "soft": (1.0, 0.25, 0.08),
    "bright": (0.6, 1.0, 0.7, 0.5, 0.35, 0.25, 0.2, 0.15, 0.1, 0.08),
}


@dataclass(frozen=True)
class Section:
    label: str  # repeated material shares a label
    kind: str
    start: float
    end: float


@dataclass
class SongTruth:
    """Exact annotations of a rendered song (times in seconds from the file start)."""
    title: str
    seed: int
    beats: list[float]
    positions: list[int]  # 1-based position in the bar of each beat
    beats_per_bar: int
    meter: str  # "4/4", "3/4" or "6/8"
    tempo_bpm: float  # median
    sections: list[Section] = field(default_factory=list)
    traits: list[str] = field(default_factory=list)  # what makes this song hard

    @property
    def downbeats(self) -> list[float]:
        return [t for t, p in zip(self.beats, self.positions) if p == 1]

    @property
    def choruses(self) -> list[tuple[float, float]]:
        """Chorus blocks (consecutive chorus sections merged, e.g. a double chorus)."""
        spans: list[tuple[float, float]] = []
        for s in self.sections:
            if s.kind != CHORUS:
                continue
            if spans and abs(spans[-1][1] - s.start) < 1e-6:
                spans[-1] = (spans[-1][0], s.end)
            else:
                spans.append((s.start, s.end))
        return spans

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["downbeats"] = self.downbeats
        data["choruses"] = self.choruses
        return data


@dataclass(frozen=True)
class Song:
    samples: np.ndarray  # float32 (2, n)
    rate: int
    truth: SongTruth


@dataclass(frozen=True)
class _Style:
    meter: str
    beats_per_bar: int
    subdivision: int  # pulses per beat (2 straight/swing, 3 for 6/8)
    bpm: float
    swing: float  # 0 straight .. 1 full triplet swing
    jitter_s: float
    drift: float  # relative tempo change across the song
    step: float  # relative tempo jump at the bridge / last chorus
    drums: str
    timbres: tuple[str, str, str]  # bass, chords, lead
    two_bar_chords: bool
    key: int  # MIDI note of the tonic
    key_change: int  # semitones up in the last chorus


def _style(rng: np.random.Generator) -> _Style:
    meter = str(rng.choice(["4/4", "4/4", "4/4", "3/4", "6/8"]))
    beats_per_bar, subdivision = {"4/4": (4, 2), "3/4": (3, 2), "6/8": (2, 3)}[meter]
    low, high = {"4/4": (72, 178), "3/4": (84, 180), "6/8": (52, 92)}[meter]
    names = list(_TIMBRES)
    return _Style(
        meter=meter, beats_per_bar=beats_per_bar, subdivision=subdivision,
        bpm=float(rng.uniform(low, high)),
        swing=float(rng.choice([0.0, 0.0, 0.0, rng.uniform(0.4, 1.0)])) if subdivision == 2
        else 0.0,
        jitter_s=float(rng.choice([0.0, rng.uniform(0.004, 0.018)])),
        drift=float(rng.choice([0.0, 0.0, rng.uniform(-0.06, 0.06)])),
        step=float(rng.choice([0.0, 0.0, 0.0, rng.uniform(-0.12, 0.12)])),
        drums=str(rng.choice(["rock", "four_floor", "half_time", "syncopated", "sparse"])),
        timbres=(str(rng.choice(["soft", "saw", "square"])), str(rng.choice(names)),
                 str(rng.choice(names))),
        two_bar_chords=bool(rng.random() < 0.25),
        key=int(rng.integers(40, 52)),
        key_change=int(rng.choice([0, 0, 1, 2])))


def _form(rng: np.random.Generator) -> list[tuple[str, str, int]]:
    """(label, kind, bars) in play order: a pop form with random lengths and options."""
    verse_bars = int(rng.choice([8, 8, 16]))
    chorus_bars = int(rng.choice([8, 8, 16]))
    pre = int(rng.choice([0, 4, 4, 8]))
    form: list[tuple[str, str, int]] = [("I", INTRO, int(rng.choice([2, 4, 4, 8, 16])))]
    rounds = int(rng.choice([2, 2, 3]))
    for r in range(rounds):
        form.append(("A", VERSE, verse_bars if r < 2 else verse_bars // 2))
        if pre:
            form.append(("P", PRE_CHORUS, pre))
        form.append(("C", CHORUS, chorus_bars))
        if r == rounds - 1 or (r == 1 and rng.random() < 0.3):
            form.append(("C", CHORUS, chorus_bars))  # double chorus
        if r == rounds - 2 and rng.random() < 0.6:
            form.append(("B", BRIDGE, int(rng.choice([4, 8]))))
    form.append(("O", OUTRO, int(rng.choice([2, 4, 8]))))
    return form


def _beat_grid(style: _Style, form: list[tuple[str, str, int]], start: float
               ) -> tuple[np.ndarray, list[int]]:
    """Beat times (one past the last, to bound the final bar) and their section index."""
    section_of: list[int] = []
    for index, (_, _, bars) in enumerate(form):
        section_of.extend([index] * bars * style.beats_per_bar)
    n = len(section_of)
    progress = np.arange(n) / max(1, n - 1)
    bpm = style.bpm * (1.0 + style.drift * progress)
    step_at = next((i for i, (_, kind, _) in enumerate(form) if kind == BRIDGE),
                   len(form) - 3)
    bpm = np.where(np.array(section_of) >= step_at, bpm * (1.0 + style.step), bpm)
    periods = 60.0 / bpm
    times = start + np.concatenate([[0.0], np.cumsum(periods)])
    return times, section_of


def _envelope(n: int, rate: int, attack: float, decay: float) -> np.ndarray:
    t = np.arange(n, dtype=np.float32) / rate
    env = np.exp(-t / max(decay, 1e-3))
    a = max(1, int(attack * rate))
    env[:a] *= np.linspace(0.0, 1.0, a, dtype=np.float32)
    return env


def _tone(freq: float, seconds: float, rate: int, timbre: str, attack: float, decay: float,
          vibrato: float = 0.0) -> np.ndarray:
    n = max(1, int(seconds * rate))
    t = np.arange(n, dtype=np.float32) / rate
    phase = 2 * np.pi * freq * t
    if vibrato:
        phase += vibrato * np.sin(2 * np.pi * 5.5 * t)
    out = np.zeros(n, np.float32)
    for k, amp in enumerate(_TIMBRES[timbre], start=1):
        if amp and freq * k < rate / 2.2:
            out += amp * np.sin(k * phase)
    release = min(n, int(0.02 * rate))
    env = _envelope(n, rate, attack, decay)
    env[n - release:] *= np.linspace(1.0, 0.0, release, dtype=np.float32)
    return out * env / max(1.0, sum(_TIMBRES[timbre]) * 0.5)


def _midi(note: float) -> float:
    return 440.0 * 2.0 ** ((note - 69) / 12)


class _Kit:
    """One-shot drum sounds, varied per song."""

    def __init__(self, rng: np.random.Generator, rate: int) -> None:
        n = int(0.35 * rate)
        t = np.arange(n, dtype=np.float32) / rate
        f0, f1 = rng.uniform(45, 65), rng.uniform(90, 160)
        sweep = f0 + (f1 - f0) * np.exp(-t * rng.uniform(25, 45))
        self.kick = np.sin(2 * np.pi * np.cumsum(sweep) / rate) * np.exp(-t * rng.uniform(6, 12))
        noise = rng.standard_normal(n).astype(np.float32)
        body = np.sin(2 * np.pi * rng.uniform(160, 230) * t) * np.exp(-t * 25)
        self.snare = (0.6 * noise * np.exp(-t * rng.uniform(14, 26)) + 0.5 * body) * 0.8
        hat_n = int(0.08 * rate)
        hiss = np.diff(rng.standard_normal(hat_n + 1)).astype(np.float32) * 0.5
        self.hat = hiss * np.exp(-np.arange(hat_n) / rate * rng.uniform(40, 80))
        crash_n = int(1.2 * rate)
        self.crash = (np.diff(rng.standard_normal(crash_n + 1)).astype(np.float32) * 0.35
                      * np.exp(-np.arange(crash_n) / rate * 3.0))
        for name in ("kick", "snare", "hat", "crash"):
            setattr(self, name, getattr(self, name).astype(np.float32))


def _drum_hits(style: _Style, position: int, pulse: int, energy: int
               ) -> list[tuple[str, float]]:
    """(drum, velocity) played at a pulse; energy 0 = none, 1 = light, 2 = full."""
    if energy == 0:
        return []
    bpb, sub = style.beats_per_bar, style.subdivision
    hits: list[tuple[str, float]] = []
    on_beat = pulse == 0
    if style.drums == "four_floor" and bpb != 3 and sub == 2:
        if on_beat:
            hits.append(("kick", 1.0))
        if on_beat and position in (2, 4):
            hits.append(("snare", 0.9))
        if pulse == 1:
            hits.append(("hat", 0.8))
    elif bpb == 3:
        if on_beat and position == 1:
            hits.append(("kick", 1.0))
        if on_beat and position in (2, 3):
            hits.append(("snare", 0.45))
    elif sub == 3:  # 6/8: kick on 1, snare on the second dotted quarter
        if on_beat and position == 1:
            hits.append(("kick", 1.0))
        if on_beat and position == 2:
            hits.append(("snare", 0.9))
    elif style.drums == "half_time":
        if on_beat and position == 1:
            hits.append(("kick", 1.0))
        if on_beat and position == 3:
            hits.append(("snare", 0.9))
    elif style.drums == "syncopated":
        if on_beat and position == 1 or (pulse == 1 and position == 2):
            hits.append(("kick", 0.9))
        if on_beat and position in (2, 4):
            hits.append(("snare", 0.9))
    elif style.drums == "sparse":
        if on_beat and position == 1:
            hits.append(("kick", 0.9))
        if on_beat and position == 3:
            hits.append(("snare", 0.6))
    else:  # rock
        if on_beat and position in (1, 3):
            hits.append(("kick", 1.0))
        if on_beat and position in (2, 4):
            hits.append(("snare", 0.9))
    if energy == 2 or style.drums != "sparse":
        hits.append(("hat", 0.5 if on_beat else 0.3))
    if energy == 1:
        hits = [(d, v * 0.7) for d, v in hits if d != "snare" or style.drums != "sparse"]
    return hits


def render_song(seed: int, rate: int = 44_100, title: str | None = None) -> Song:
    """Render one song and its exact annotations."""
    rng = np.random.default_rng(seed)
    style, form = _style(rng), _form(rng)
    lead_in = float(rng.uniform(0.0, 1.5))
    grid, section_of = _beat_grid(style, form, lead_in)
    n_beats = len(section_of)
    bpb = style.beats_per_bar
    total = grid[-1] + 2.5
    out = np.zeros((2, int(total * rate) + rate), np.float32)
    kit = _Kit(rng, rate)
    progressions = {label: _PROGRESSIONS[int(rng.integers(len(_PROGRESSIONS)))]
                    for label in "IAPCBO"}
    progressions["I"] = progressions[str(rng.choice(["A", "C"]))]
    progressions["O"] = progressions["C"]
    motifs = {label: rng.integers(0, 7, size=8) for label in "APCB"}
    energies = {INTRO: (int(rng.choice([0, 0, 1])), 0.35), VERSE: (1, 0.55),
                PRE_CHORUS: (1, 0.7), CHORUS: (2, 1.0), BRIDGE: (1, 0.6), OUTRO: (1, 0.45)}
    last_chorus = max(i for i, (_, kind, _) in enumerate(form) if kind == CHORUS)
    bass_t, chord_t, lead_t = style.timbres
    pan = rng.uniform(-0.5, 0.5, size=3)

    def place(sound: np.ndarray, at: float, gain: float, balance: float = 0.0) -> None:
        i = int(round(at * rate))
        if i < 0 or i >= out.shape[1]:
            return
        seg = sound[: out.shape[1] - i] * gain
        out[0, i:i + len(seg)] += seg * (1.0 - balance) * 0.5 ** 0.5 * 1.2
        out[1, i:i + len(seg)] += seg * (1.0 + balance) * 0.5 ** 0.5 * 1.2

    def jitter() -> float:
        return float(rng.normal(0.0, style.jitter_s)) if style.jitter_s else 0.0

    bar_in_section = 0
    for b in range(n_beats):
        index = section_of[b]
        label, kind, _ = form[index]
        position = b % bpb + 1
        if b == 0 or section_of[b - 1] != index:
            bar_in_section = 0
        elif position == 1:
            bar_in_section += 1
        start, period = grid[b], grid[b + 1] - grid[b]
        drum_energy, level = energies[kind]
        shift = style.key_change if index == last_chorus else 0
        if kind == CHORUS and position == 1 and bar_in_section == 0:
            place(kit.crash, start + jitter(), 0.5)
        for pulse in range(style.subdivision):
            frac = pulse / style.subdivision
            if style.subdivision == 2 and pulse == 1:
                frac += style.swing / 6.0
            for drum, velocity in _drum_hits(style, position, pulse, drum_energy):
                place(getattr(kit, drum), start + frac * period + jitter(), velocity * 0.55)
        chord_len = 2 if style.two_bar_chords and kind != CHORUS else 1
        progression = progressions[label]
        degree = progression[(bar_in_section // chord_len) % len(progression)]
        root = style.key + shift + _MAJOR[degree]
        if position == 1 and bar_in_section % chord_len == 0:
            bar_s = period * bpb * chord_len
            for k, offset in enumerate((0, 2, 4)):
                d = degree + offset
                note = style.key + shift + 12 + _MAJOR[d % 7] + 12 * (d // 7)
                place(_tone(_midi(note), bar_s, rate, chord_t, 0.02 + 0.03 * k, bar_s * 0.8),
                      start + jitter(), 0.16 * level, pan[1])
        if position == 1 or (kind in (CHORUS, PRE_CHORUS) and position == bpb // 2 + 1):
            place(_tone(_midi(root - 12), period * 0.9, rate, bass_t, 0.005, period * 0.6),
                  start + jitter(), 0.45 * level, 0.0)
        if label in motifs and (kind != VERSE or bar_in_section % 2 == 0 or position <= 2):
            step = motifs[label][(bar_in_section * bpb + position - 1) % 8]
            note = style.key + shift + 24 + _MAJOR[step]
            length = period * (0.9 if kind == CHORUS else 0.6)
            place(_tone(_midi(note), length, rate, lead_t, 0.01, length * 0.7, vibrato=0.3),
                  start + jitter(), (0.22 if kind == CHORUS else 0.13) * level, pan[2])
    fade = min(out.shape[1], int(2.0 * rate))
    end_at = int((grid[-1] + 2.0) * rate)
    out[:, end_at - fade:end_at] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    out[:, end_at:] = 0.0
    out = out[:, : end_at + rate // 2]
    out += rng.standard_normal(out.shape).astype(np.float32) * 1e-4  # room noise
    out *= float(10 ** (rng.uniform(-4.0, 0.0) / 20)) / max(1e-6, float(np.max(np.abs(out))))

    sections, t0 = [], 0
    for label, kind, bars in form:
        t1 = t0 + bars * bpb
        sections.append(Section(label, kind, float(grid[t0]), float(grid[t1])))
        t0 = t1
    traits = [style.meter, style.drums]
    if style.swing:
        traits.append("swing")
    if style.jitter_s:
        traits.append("jitter")
    if style.drift:
        traits.append("drift")
    if style.step:
        traits.append("tempo-step")
    if style.key_change:
        traits.append("key-change")
    if form[0][2] >= 8:
        traits.append("long-intro")
    periods = np.diff(grid)
    truth = SongTruth(
        title=title or f"song-{seed}", seed=seed,
        beats=[float(t) for t in grid[:-1]],
        positions=[b % bpb + 1 for b in range(n_beats)],
        beats_per_bar=bpb, meter=style.meter,
        tempo_bpm=float(60.0 / np.median(periods)), sections=sections, traits=traits)
    return Song(samples=out, rate=rate, truth=truth)


def duration_of(song: Song) -> float:
    return song.samples.shape[1] / song.rate


def bars_to_seconds(truth: SongTruth, bars: float) -> float:
    """Length of `bars` bars at the song's median tempo."""
    return bars * truth.beats_per_bar * 60.0 / truth.tempo_bpm


__all__ = ["Section", "Song", "SongTruth", "render_song", "duration_of", "bars_to_seconds",
           "INTRO", "VERSE", "PRE_CHORUS", "CHORUS", "BRIDGE", "OUTRO"]
