"""Synthetic patients and providers with planted identifiers for the de-identification stage.

Every identifier is fictional: names come from short internal lists (a few thousand
combinations), phone numbers use the reserved 555-01xx range, e-mail domains are
example domains. Formats vary on purpose so a de-identifier cannot rely on one pattern.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from cancerllm.data.synth.text import Lit, Phi

FIRST_F = ["Mary", "Linda", "Susan", "Karen", "Nancy", "Lisa", "Sandra", "Donna", "Carol", "Ruth",
           "Sharon", "Michelle", "Laura", "Sarah", "Kimberly", "Deborah", "Jessica", "Shirley",
           "Cynthia", "Angela", "Melissa", "Brenda", "Amy", "Anna", "Rebecca", "Kathleen", "Amanda",
           "Maria", "Ingrid", "Fatima", "Mei", "Aisha", "Guadalupe", "Olga", "Priya", "Hoa", "Keiko",
           "Ifeoma", "Astrid", "Rosa"]
FIRST_M = ["James", "John", "Robert", "Michael", "William", "David", "Richard", "Joseph", "Thomas",
           "Charles", "Daniel", "Matthew", "Anthony", "Mark", "Donald", "Steven", "Paul", "Andrew",
           "Kenneth", "George", "Edward", "Brian", "Ronald", "Gary", "Timothy", "Jose", "Ahmed",
           "Wei", "Olumide", "Lars", "Rajesh", "Dmitri", "Tuan", "Hiroshi", "Mohamed", "Sven",
           "Carlos", "Kwame", "Arjun", "Mateo"]
LAST = ["Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
        "Martinez", "Hernandez", "Lopez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson",
        "Martin", "Lee", "Thompson", "White", "Harris", "Clark", "Lewis", "Robinson", "Walker", "Young",
        "Allen", "King", "Nguyen", "Olson", "Hansen", "Larson", "Johansson", "Peterson", "Schmidt",
        "Muller", "Kowalski", "Novak", "Okafor", "Adeyemi", "Haile", "Yang", "Vang", "Xiong", "Patel",
        "Shah", "Kim", "Park", "Tanaka", "Chen", "Wang", "Ali", "Hassan", "Ibrahim", "Lindqvist",
        "Bergstrom", "Fitzgerald", "O'Brien"]
STREETS = ["Oak St", "Maple Ave", "Cedar Ln", "University Ave SE", "Lake St", "Franklin Ave",
           "Hennepin Ave", "Como Ave", "Grand Ave", "Summit Ave", "Pine Ridge Rd", "County Rd 42",
           "Elm Ct", "Birch Dr", "Washington Ave N"]
CITIES = [("Minneapolis", "MN", "554"), ("St. Paul", "MN", "551"), ("Duluth", "MN", "558"),
          ("Rochester", "MN", "559"), ("Bloomington", "MN", "554"), ("Fargo", "ND", "581"),
          ("Eau Claire", "WI", "547"), ("Sioux Falls", "SD", "571"), ("Des Moines", "IA", "503"),
          ("Mankato", "MN", "560")]
EMAIL_DOMAINS = ["example.com", "example.org", "example.net", "mail.example.com"]
_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December"]


@dataclass(frozen=True)
class Person:
    first: str
    last: str
    sex: str
    dob: dt.date
    age: int
    mrn: str
    phone: str
    address: str
    email: str

    @property
    def name(self) -> str:
        return f"{self.first} {self.last}"

    def phi_record(self) -> dict:
        return {"name": self.name, "mrn": self.mrn, "dob": self.dob.isoformat(), "phone": self.phone,
                "address": self.address, "email": self.email}


def make_person(rng: random.Random, sex: str, age: int, on: dt.date) -> Person:
    """A patient aged `age` on date `on`, with identifiers in randomly chosen formats."""
    first = rng.choice(FIRST_F if sex == "F" else FIRST_M)
    last = rng.choice(LAST)
    dob = on - dt.timedelta(days=age * 365 + rng.randrange(1, 360))
    mrn = rng.choice(["{:08d}", "{:07d}", "MR{:07d}", "{:03d}-{:02d}-{:03d}"])
    digits = rng.randrange(10**7)
    mrn = mrn.format(digits // 100000, digits // 1000 % 100, digits % 1000) if "-" in mrn else mrn.format(digits)
    area = rng.choice(["612", "651", "763", "952", "218", "507", "701"])
    ext = rng.randrange(100)
    phone = rng.choice(["({a}) 555-01{e:02d}", "{a}-555-01{e:02d}", "{a}.555.01{e:02d}"]).format(a=area, e=ext)
    city, state, zip3 = rng.choice(CITIES)
    address = f"{rng.randrange(100, 9900)} {rng.choice(STREETS)}, {city}, {state} {zip3}{rng.randrange(100):02d}"
    user = rng.choice([f"{first[0]}{last}", f"{first}.{last}", f"{first}{dob.year % 100:02d}",
                       f"{last}{rng.randrange(10, 99)}"]).lower().replace("'", "")
    return Person(first, last, sex, dob, age, mrn, phone, address, f"{user}@{rng.choice(EMAIL_DOMAINS)}")


def provider(rng: random.Random) -> tuple[str, str]:
    """(first, last) of a clinician; drawn from the same lists as patients, as in real notes."""
    return rng.choice(FIRST_F + FIRST_M), rng.choice(LAST)


def fmt_date(d: dt.date, rng: random.Random) -> str:
    style = rng.randrange(6)
    if style == 0:
        return f"{d.month:02d}/{d.day:02d}/{d.year}"
    if style == 1:
        return f"{d.month}/{d.day}/{d.year % 100:02d}"
    if style == 2:
        return d.isoformat()
    if style == 3:
        return f"{_MONTHS[d.month - 1]} {d.day}, {d.year}"
    if style == 4:
        return f"{d.day:02d}-{_MONTHS[d.month - 1][:3]}-{d.year}"
    return f"{d.month}/{d.day}/{d.year}"


def date_frag(d: dt.date, rng: random.Random) -> Phi:
    return Phi("DATE", fmt_date(d, rng))


def age_frags(age: int, rng: random.Random) -> list:
    """An age phrase with the number tagged as AGE ("67-year-old", "67 yo", "67 y/o")."""
    unit = rng.choice(["-year-old", " yo", " y/o", " year old", "-yo", " YO"])
    return [Phi("AGE", str(age)), Lit(unit)]


def name_frag(p: Person, rng: random.Random, formal: bool = True) -> list:
    """The patient's name as a clinician writes it: "Ms. Garcia", "Maria Garcia", "GARCIA, MARIA"."""
    style = rng.randrange(4 if formal else 3)
    if style == 0:
        return [Phi("NAME", p.name)]
    if style == 1:
        return [Phi("NAME", f"{p.last.upper()}, {p.first.upper()}")]
    if style == 2:
        return [Phi("NAME", f"{p.last}, {p.first}")]
    title = "Ms." if p.sex == "F" else "Mr."
    return [Lit(title + " "), Phi("NAME", p.last)]


def doctor_frag(rng: random.Random) -> list:
    first, last = provider(rng)
    style = rng.randrange(3)
    if style == 0:
        return [Lit("Dr. "), Phi("NAME", last)]
    if style == 1:
        return [Lit("Dr. "), Phi("NAME", f"{first} {last}")]
    return [Phi("NAME", f"{first} {last}"), Lit(rng.choice([", MD", ", M.D.", " MD", ", DO"]))]
