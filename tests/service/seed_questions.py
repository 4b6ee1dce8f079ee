"""Questions about the seed article, with the sentences that answer them.

Each answerable entry lists distinctive fragments of acceptable first quotes: the first
quote must contain one of them. Several are phrased away from the article's own words; the
interview ones must be answered with the interviewee's answer, not the interviewer's
question. Unanswerable entries must be abstained on.
"""

ANSWERABLE: list[tuple[str, tuple[str, ...]]] = [
    ("Which sides are fighting over Deir e-Zor?", ("three-way battle between ISIS",)),
    (
        "When did ISIS seize the a-Siyasiya Bridge?",
        ("Siyasiya Bridge on the Euphrates River on June 3",),
    ),
    (
        "How many people lived in Deir e-Zor city before the war?",
        ("pre-war population of 200,000",),
    ),
    ("Where does the regime hold positions around the city?", ("three main positions",)),
    (
        "Who controlled the Syrian side of the al-Qaim crossing before ISIS?",
        ("Gunmen linked to opposition fighters and a-Nusra were previously in control",),
    ),
    ("Why does the bridge matter?", ("main supply route into the city",)),
    ("What did the rebels and ISIS agree last Thursday?", ("agreement to allow food aid",)),
    (
        "Has ISIS transported weapons to Deir e-Zor through the Iraqi border?",
        ("more than 50 pieces of military equipment", "already brought captured Iraqi weapons"),
    ),
    (
        "Does the regime still hold the al-Qusour and al-Jora neighborhoods?",
        ("still controls these two neighborhoods entirely",),
    ),
    (
        "Did the “Deir e-Zor needs your help” campaign achieve anything?",
        ("didn’t achieve anything on ground",),
    ),
    ("Is the regime fighting ISIS in Deir e-Zor?", ("no clashes between the regime and ISIS",)),
    ("How many people have fled the fighting?", ("number of people fleeing the conflict",)),
    ("Who pledged allegiance to ISIS?", ("pledged loyalty to ISIS",)),
    ("What vehicles arrived in al-Shadadi from Hasaka?", ("Hummers, armored vehicles",)),
    ("Which road runs through al-Qaim?", ("main road that follows the Euphrates",)),
    ("Who is Wisam al-Arab?", ("26 year-old independent journalist",)),
    ("Has the regime carried out air strikes on ISIS?", ("no air raids on the ISIS sites",)),
    (
        "Why has ISIS postponed its offensive in Deir e-Zor?",
        ("activity of ISIS in Iraq forced them to delay",),
    ),
    ("What did the leader of the rebel military council do?", ("pledged loyalty to ISIS",)),
]

UNANSWERABLE: list[str] = [
    "What is the capital of France?",
    "How do I bake sourdough bread at home?",
    "Who won the 2018 FIFA World Cup?",
    "What is the boiling point of water at sea level?",
    "Which smartphone has the best camera this year?",
]
