"""What a writer knows at one visit: the case, the course so far, the patient and the dates."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field

from cancerllm.data.synth.case import Case
from cancerllm.data.synth.course import Course
from cancerllm.data.synth.people import Person
from cancerllm.data.synth.regimens import Regimen

SYSTEMIC = ("neoadjuvant", "adjuvant", "maintenance", "first_line", "second_line")


@dataclass
class Visit:
    case: Case
    course: Course
    person: Person
    kind: str                          # consult | neoadjuvant | post_op | adjuvant | radiation | ...
    date: dt.date
    dates: dict[str, dt.date]          # diagnosis, surgery, ... (events before this visit)
    rng: random.Random
    cycle: int = 1
    progression: bool = False          # restaging result
    extras: dict = field(default_factory=dict)

    @property
    def regimen(self) -> Regimen | None:
        """The systemic therapy this visit is about (for restaging: the one being assessed)."""
        c = self.course
        if self.kind in SYSTEMIC:
            return getattr(c, self.kind)
        if self.kind == "restaging":
            return c.first_line
        if self.kind == "radiation":
            return c.concurrent
        return None

    @property
    def operated(self) -> bool:
        """Pathologic stage is known: the surgery is behind this visit."""
        return "surgery" in self.dates and self.dates["surgery"] <= self.date

    @property
    def she(self) -> str:
        return "she" if self.person.sex == "F" else "he"

    @property
    def her(self) -> str:
        return "her" if self.person.sex == "F" else "his"
