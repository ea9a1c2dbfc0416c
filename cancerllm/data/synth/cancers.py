"""The cancer types the generator knows: names, histologies, sites, staging and markers.

Weights follow the rough mix of an academic oncology practice (breast most common, as in
the paper's Figure 3). Stage sub-categories are written the way each organ's AJCC
chapter writes them; `cancerllm.data.synth.pathology` maps them onto the staging schema.
"""

from __future__ import annotations

from dataclasses import dataclass

H = tuple[tuple[str, ...], float]  # (variants of one histology, first = full name; weight)


@dataclass(frozen=True)
class Cancer:
    key: str
    weight: float
    names: tuple[str, ...]          # disease names used in prose; never tagged as entities
    histologies: tuple[H, ...]
    organ: str                      # the organ as a location ("breast", "lung")
    subsites: tuple[str, ...]
    site_form: str                  # organ_sub | lat_sub | organ_lat | sub  (see clinic_notes.site_frags)
    staging: str                    # tnm | ann_arbor | none
    t: tuple[tuple[str, float], ...] = ()
    n: tuple[tuple[str, float], ...] = ()
    m1: float = 0.0
    grade: str = "none"             # nottingham | diff | isup | two_tier | gleason | who | none
    receptors: tuple[str, ...] = ()
    markers: tuple[str, ...] = ()
    sex: str | None = None
    age: tuple[int, int] = (62, 11)
    met_sites: tuple[str, ...] = ("liver", "lungs", "bones")
    heme: bool = False


CANCERS: tuple[Cancer, ...] = (
    Cancer("breast", 22, ("breast cancer", "breast ca", "carcinoma of the breast", "breast carcinoma"),
           ((("invasive ductal carcinoma", "IDC", "infiltrating ductal carcinoma",
              "invasive carcinoma of no special type"), .72),
            (("invasive lobular carcinoma", "ILC", "infiltrating lobular carcinoma"), .15),
            (("invasive mammary carcinoma with ductal and lobular features", "mixed ductal and lobular carcinoma"), .05),
            (("ductal carcinoma in situ", "DCIS"), .08)),
           "breast", ("upper outer quadrant", "upper inner quadrant", "lower outer quadrant",
                      "lower inner quadrant", "retroareolar region", "12 o'clock position", "2 o'clock position",
                      "10:00 position", "9-10:00 position", "central region"), "organ_sub", "tnm",
           (("T1mi", .03), ("T1a", .05), ("T1b", .12), ("T1c", .28), ("T2", .33), ("T3", .1), ("T4b", .05),
            ("T4d", .02), ("T4a", .02)),
           (("N0", .58), ("N0(i+)", .03), ("N1mi", .05), ("N1a", .2), ("N2a", .08), ("N3a", .04), ("N1", .02)),
           .06, "nottingham", ("ER", "PR", "HER2"), ("CA 15-3", "CA 27-29", "CEA"), "F", (60, 12),
           ("bones", "liver", "lungs", "brain")),
    Cancer("lung", 12, ("lung cancer", "non-small cell lung cancer", "NSCLC", "lung ca"),
           ((("adenocarcinoma", "lung adenocarcinoma", "invasive adenocarcinoma", "adenocarcinoma, acinar predominant"), .6),
            (("squamous cell carcinoma", "SCC", "squamous carcinoma"), .3),
            (("large cell carcinoma",), .04), (("non-small cell carcinoma, NOS", "NSCLC NOS"), .06)),
           "lung", ("upper lobe", "lower lobe", "middle lobe"), "lat_sub", "tnm",
           (("T1a", .08), ("T1b", .15), ("T1c", .15), ("T2a", .2), ("T2b", .1), ("T3", .15), ("T4", .17)),
           (("N0", .5), ("N1", .15), ("N2", .25), ("N3", .1)), .35, "diff", (), ("CEA",), None, (67, 9),
           ("brain", "bones", "adrenal gland", "liver", "contralateral lung")),
    Cancer("sclc", 2, ("small cell lung cancer", "small cell lung ca", "lung cancer"),
           ((("small cell carcinoma", "small cell lung carcinoma", "SCLC"), 1.0),),
           "lung", ("upper lobe", "lower lobe", "hilum"), "lat_sub", "tnm",
           (("T1c", .1), ("T2a", .2), ("T3", .3), ("T4", .4)), (("N0", .1), ("N2", .5), ("N3", .4)), .65,
           "none", (), ("NSE", "LDH"), None, (66, 8), ("brain", "liver", "bones", "adrenal glands")),
    Cancer("prostate", 10, ("prostate cancer", "prostate ca", "carcinoma of the prostate"),
           ((("acinar adenocarcinoma", "prostatic adenocarcinoma", "adenocarcinoma"), .97),
            (("ductal adenocarcinoma",), .03)),
           "prostate", ("peripheral zone", "prostatic apex", "prostatic base", "transition zone", "mid gland"),
           "sub", "tnm", (("T2", .55), ("T3a", .25), ("T3b", .15), ("T4", .05)),
           (("N0", .85), ("N1", .15)), .08, "gleason", (), ("PSA",), "M", (66, 8), ("bones", "lymph nodes")),
    Cancer("colorectal", 9, ("colon cancer", "colorectal cancer", "CRC", "rectal cancer", "colon ca"),
           ((("adenocarcinoma", "invasive adenocarcinoma", "colonic adenocarcinoma"), .88),
            (("mucinous adenocarcinoma",), .1), (("signet ring cell carcinoma",), .02)),
           "colon", ("sigmoid colon", "ascending colon", "cecum", "transverse colon", "descending colon",
                     "rectum", "rectosigmoid junction", "hepatic flexure"), "sub", "tnm",
           (("T1", .08), ("T2", .15), ("T3", .5), ("T4a", .18), ("T4b", .09)),
           (("N0", .5), ("N1a", .15), ("N1b", .12), ("N1c", .03), ("N2a", .12), ("N2b", .08)), .2, "diff", (),
           ("CEA",), None, (63, 12), ("liver", "lungs", "peritoneum")),
    Cancer("pancreatic", 4, ("pancreatic cancer", "pancreatic ca", "pancreatic adenocarcinoma"),
           ((("ductal adenocarcinoma", "pancreatic ductal adenocarcinoma", "PDAC", "adenocarcinoma"), 1.0),),
           "pancreas", ("head of the pancreas", "pancreatic head", "pancreatic tail", "body of the pancreas",
                        "uncinate process"), "sub", "tnm",
           (("T1c", .1), ("T2", .35), ("T3", .35), ("T4", .2)), (("N0", .35), ("N1", .45), ("N2", .2)), .5,
           "diff", (), ("CA 19-9", "CEA"), None, (68, 9), ("liver", "peritoneum", "lungs")),
    Cancer("melanoma", 5, ("melanoma", "malignant melanoma", "cutaneous melanoma"),
           ((("superficial spreading melanoma", "malignant melanoma, superficial spreading type"), .6),
            (("nodular melanoma",), .25), (("lentigo maligna melanoma",), .1), (("acral lentiginous melanoma",), .05)),
           "skin", ("upper back", "forearm", "calf", "shoulder", "thigh", "scalp", "upper arm"), "lat_sub", "tnm",
           (("T1a", .3), ("T1b", .15), ("T2a", .2), ("T3a", .15), ("T4b", .2)),
           (("N0", .7), ("N1a", .12), ("N2b", .1), ("N3c", .08)), .12, "none", (), ("LDH",), None, (60, 15),
           ("lungs", "liver", "brain", "subcutaneous tissue")),
    Cancer("lymphoma", 6, ("lymphoma", "non-Hodgkin lymphoma", "NHL"),
           ((("diffuse large B-cell lymphoma", "DLBCL"), .45), (("follicular lymphoma",), .25),
            (("classical Hodgkin lymphoma", "Hodgkin lymphoma", "cHL"), .2), (("mantle cell lymphoma", "MCL"), .1)),
           "lymph nodes", ("cervical lymph nodes", "axillary lymph nodes", "mediastinum", "inguinal lymph nodes",
                           "retroperitoneal lymph nodes"), "sub", "ann_arbor",
           markers=("LDH", "beta-2 microglobulin"), age=(58, 16), heme=True),
    Cancer("leukemia", 4, ("leukemia",),
           ((("acute myeloid leukemia", "AML"), .4), (("chronic lymphocytic leukemia", "CLL"), .35),
            (("chronic myeloid leukemia", "CML"), .15), (("B-cell acute lymphoblastic leukemia", "B-ALL"), .1)),
           "bone marrow", ("bone marrow", "peripheral blood"), "sub", "none",
           markers=("LDH", "uric acid"), age=(64, 14), heme=True),
    Cancer("ovarian", 3, ("ovarian cancer", "ovarian ca", "ovarian carcinoma"),
           ((("high-grade serous carcinoma", "HGSC", "high grade serous carcinoma"), .7),
            (("endometrioid carcinoma",), .1), (("clear cell carcinoma",), .1), (("low-grade serous carcinoma",), .1)),
           "ovary", (), "organ_lat", "tnm", (("T1a", .1), ("T1c", .1), ("T2", .1), ("T3c", .7)),
           (("N0", .6), ("N1", .4)), .25, "two_tier", (), ("CA-125", "CEA"), "F", (63, 10),
           ("peritoneum", "liver", "pleura")),
    Cancer("endometrial", 4, ("endometrial cancer", "uterine cancer", "endometrial ca"),
           ((("endometrioid adenocarcinoma", "endometrioid carcinoma"), .8), (("serous carcinoma",), .12),
            (("carcinosarcoma",), .08)),
           "uterus", ("endometrium", "uterine corpus", "lower uterine segment", "uterine fundus"), "sub", "tnm",
           (("T1a", .55), ("T1b", .25), ("T2", .1), ("T3a", .07), ("T4", .03)),
           (("N0", .85), ("N1", .1), ("N2", .05)), .07, "diff", (), ("CA-125",), "F", (64, 10),
           ("lungs", "peritoneum", "vagina")),
    Cancer("cervical", 2, ("cervical cancer", "cervical ca", "carcinoma of the cervix"),
           ((("squamous cell carcinoma", "SCC", "invasive squamous cell carcinoma"), .75),
            (("adenocarcinoma", "endocervical adenocarcinoma"), .25)),
           "cervix", ("cervix", "ectocervix", "endocervix"), "sub", "tnm",
           (("T1b", .4), ("T2a", .15), ("T2b", .3), ("T3b", .1), ("T4", .05)),
           (("N0", .6), ("N1", .4)), .1, "diff", (), ("SCC antigen",), "F", (48, 12), ("lungs", "para-aortic lymph nodes")),
    Cancer("bladder", 4, ("bladder cancer", "urothelial cancer", "bladder ca"),
           ((("urothelial carcinoma", "invasive urothelial carcinoma", "urothelial carcinoma, invasive"), .9),
            (("urothelial carcinoma with squamous differentiation",), .1)),
           "bladder", ("bladder dome", "trigone", "posterior wall of the bladder", "bladder neck"), "sub", "tnm",
           (("T1", .3), ("T2a", .25), ("T2b", .15), ("T3a", .2), ("T4a", .1)),
           (("N0", .75), ("N1", .15), ("N2", .1)), .12, "two_tier", (), (), "M", (70, 9), ("lungs", "bones", "liver")),
    Cancer("kidney", 4, ("kidney cancer", "renal cell carcinoma", "RCC", "renal cancer"),
           ((("clear cell renal cell carcinoma", "ccRCC", "clear cell RCC"), .75),
            (("papillary renal cell carcinoma", "papillary RCC"), .15), (("chromophobe renal cell carcinoma",), .1)),
           "kidney", ("upper pole", "lower pole", "interpolar region"), "organ_sub", "tnm",
           (("T1a", .35), ("T1b", .25), ("T2a", .1), ("T3a", .25), ("T4", .05)),
           (("N0", .9), ("N1", .1)), .2, "isup", (), (), None, (63, 11), ("lungs", "bones", "adrenal gland")),
    Cancer("thyroid", 3, ("thyroid cancer", "thyroid ca", "thyroid carcinoma"),
           ((("papillary thyroid carcinoma", "PTC", "papillary carcinoma"), .85),
            (("follicular thyroid carcinoma", "follicular carcinoma"), .1),
            (("papillary thyroid carcinoma, follicular variant",), .05)),
           "thyroid", ("thyroid lobe",), "lat_sub", "tnm",
           (("T1a", .25), ("T1b", .3), ("T2", .25), ("T3a", .15), ("T4a", .05)),
           (("N0", .6), ("N1a", .3), ("N1b", .1)), .02, "none", (), ("thyroglobulin", "TSH"), None, (49, 14),
           ("lungs", "bones")),
    Cancer("head_neck", 4, ("head and neck cancer", "oropharyngeal cancer", "HNSCC", "head & neck ca"),
           ((("squamous cell carcinoma", "SCC", "invasive squamous cell carcinoma"), .6),
            (("HPV-associated squamous cell carcinoma", "p16-positive squamous cell carcinoma"), .4)),
           "oropharynx", ("base of tongue", "tonsil", "lateral tongue", "larynx", "floor of mouth"), "lat_sub", "tnm",
           (("T1", .15), ("T2", .35), ("T3", .3), ("T4a", .2)),
           (("N0", .3), ("N1", .35), ("N2b", .2), ("N2c", .1), ("N3", .05)), .06, "diff", (), (), "M", (62, 9),
           ("lungs", "bones")),
    Cancer("gastric", 2, ("gastric cancer", "stomach cancer", "gastric ca"),
           ((("adenocarcinoma", "intestinal-type adenocarcinoma"), .65), (("diffuse-type adenocarcinoma",), .2),
            (("signet ring cell carcinoma", "poorly cohesive carcinoma"), .15)),
           "stomach", ("gastric antrum", "gastric body", "gastroesophageal junction", "lesser curvature", "cardia"),
           "sub", "tnm", (("T1b", .1), ("T2", .2), ("T3", .4), ("T4a", .3)),
           (("N0", .35), ("N1", .25), ("N2", .25), ("N3a", .15)), .3, "diff", ("HER2",), ("CEA", "CA 19-9"),
           None, (66, 11), ("liver", "peritoneum")),
    Cancer("liver", 2, ("liver cancer", "liver ca", "primary liver cancer", "hepatic malignancy"),
           ((("hepatocellular carcinoma", "HCC"), .95), (("fibrolamellar carcinoma",), .05)),
           "liver", ("liver segment 4", "liver segment 7", "liver segment 6", "liver segment 8", "caudate lobe"), "sub", "tnm",
           (("T1a", .2), ("T1b", .3), ("T2", .3), ("T3", .15), ("T4", .05)),
           (("N0", .9), ("N1", .1)), .15, "diff", (), ("AFP",), None, (64, 9), ("lungs", "bones")),
    Cancer("brain", 2, ("glioma", "brain tumor", "primary brain tumor"),
           ((("glioblastoma, IDH-wildtype", "glioblastoma", "GBM"), .7), (("astrocytoma, IDH-mutant",), .2),
            (("oligodendroglioma, IDH-mutant and 1p/19q-codeleted", "oligodendroglioma"), .1)),
           "brain", ("frontal lobe", "temporal lobe", "parietal lobe", "occipital lobe"), "lat_sub", "none",
           grade="who", age=(58, 14)),
)

BY_KEY: dict[str, Cancer] = {c.key: c for c in CANCERS}
