"""Phrase banks shared by the note writers: presentations, procedures, symptoms, exam text.

Banks hold plain wording; facts that must be tagged (sites, grades, stages, ...) come
from `phrases.py`. Nothing here names an organ as a tumour location, so sentences built
only from these banks are safe "not relevant" phenotype sentences.
"""

from __future__ import annotations

PRESENTATION = {
    "breast": ["a palpable lump", "an abnormal screening mammogram", "nipple retraction", "a mass found on self-exam"],
    "lung": ["a persistent cough", "hemoptysis", "an incidental nodule on CT", "progressive dyspnea", "weight loss and cough"],
    "sclc": ["cough and weight loss", "hyponatremia and confusion", "dyspnea", "facial swelling"],
    "prostate": ["an elevated PSA on screening", "urinary frequency", "a rising PSA", "an abnormal DRE"],
    "colorectal": ["rectal bleeding", "iron deficiency anemia", "a change in bowel habits", "an abnormal screening colonoscopy"],
    "pancreatic": ["painless jaundice", "epigastric pain radiating to the back", "new-onset diabetes and weight loss"],
    "melanoma": ["a changing pigmented lesion", "a bleeding mole", "a new dark lesion noted by the dermatologist"],
    "lymphoma": ["painless lymphadenopathy", "night sweats and weight loss", "fevers and fatigue"],
    "leukemia": ["fatigue and easy bruising", "an abnormal CBC at a routine physical", "recurrent infections"],
    "ovarian": ["abdominal bloating", "increasing abdominal girth", "pelvic pain and early satiety"],
    "endometrial": ["postmenopausal bleeding", "abnormal uterine bleeding"],
    "cervical": ["an abnormal Pap smear", "postcoital bleeding", "pelvic pain"],
    "bladder": ["gross hematuria", "microscopic hematuria", "dysuria and frequency"],
    "kidney": ["flank pain", "hematuria", "an incidental finding on CT"],
    "thyroid": ["a neck nodule", "hoarseness", "an incidental nodule on carotid ultrasound"],
    "head_neck": ["a neck mass", "sore throat and odynophagia", "otalgia", "a non-healing ulcer"],
    "gastric": ["early satiety", "dysphagia", "melena and anemia", "epigastric pain"],
    "liver": ["an abnormal surveillance ultrasound", "rising AFP", "abdominal discomfort"],
    "brain": ["a new-onset seizure", "progressive headaches", "word-finding difficulty", "focal weakness"],
}
IMAGING = {
    "breast": ["diagnostic mammogram and ultrasound", "breast MRI"], "lung": ["CT chest", "PET/CT"],
    "sclc": ["CT chest", "PET/CT"], "prostate": ["prostate MRI", "PSMA PET"], "colorectal": ["CT C/A/P", "CT abdomen/pelvis"],
    "pancreatic": ["pancreas protocol CT", "MRI abdomen"], "melanoma": ["PET/CT", "CT C/A/P"],
    "lymphoma": ["PET/CT"], "leukemia": ["bone marrow biopsy", "repeat marrow aspirate"], "ovarian": ["CT abdomen/pelvis", "pelvic ultrasound"],
    "endometrial": ["transvaginal ultrasound", "pelvic MRI"], "cervical": ["pelvic MRI", "PET/CT"],
    "bladder": ["CT urogram"], "kidney": ["CT abdomen with contrast", "MRI abdomen"], "thyroid": ["neck ultrasound"],
    "head_neck": ["CT neck with contrast", "PET/CT"], "gastric": ["CT C/A/P", "PET/CT"], "liver": ["multiphasic MRI liver"],
    "brain": ["MRI brain with and without contrast"],
}
BIOPSY = {
    "breast": ["US-guided core needle biopsy", "stereotactic core biopsy"], "lung": ["CT-guided core biopsy", "EBUS-TBNA"],
    "sclc": ["EBUS-TBNA", "bronchoscopic biopsy"], "prostate": ["MRI-fusion biopsy", "TRUS-guided 12-core biopsy"],
    "colorectal": ["colonoscopy with biopsy"], "pancreatic": ["EUS-guided FNA", "EUS-guided fine needle biopsy"],
    "melanoma": ["punch biopsy", "excisional biopsy"], "lymphoma": ["excisional lymph node biopsy", "core needle biopsy"],
    "leukemia": ["bone marrow aspirate and biopsy"], "ovarian": ["omental biopsy", "diagnostic laparoscopy"],
    "endometrial": ["endometrial biopsy", "D&C"], "cervical": ["cervical biopsy", "colposcopy with biopsy"],
    "bladder": ["cystoscopy and TURBT"], "kidney": ["CT-guided renal mass biopsy"], "thyroid": ["US-guided FNA"],
    "head_neck": ["biopsy under anesthesia", "FNA of a neck node"], "gastric": ["EGD with biopsy"],
    "liver": ["CT-guided liver biopsy"], "brain": ["stereotactic biopsy"],
}
SIDE_EFFECTS = {
    "chemo": ["fatigue", "nausea", "peripheral neuropathy", "mucositis", "diarrhea", "constipation", "alopecia",
              "decreased appetite", "dysgeusia"],
    "immuno": ["fatigue", "pruritus", "a maculopapular rash", "diarrhea", "arthralgias"],
    "targeted": ["diarrhea", "an acneiform rash", "fatigue", "edema", "myalgias"],
    "endocrine": ["hot flashes", "arthralgias", "fatigue", "mood changes", "night sweats", "decreased libido"],
    "radiation": ["skin erythema", "fatigue", "skin tenderness", "dry desquamation", "pruritus in the field"],
}
DENIES = ["fevers", "chills", "night sweats", "chest pain", "shortness of breath", "abdominal pain", "headaches",
          "bleeding", "new bone pain", "vomiting", "cough", "dysuria"]
ROS = {
    "Constitutional": ["denies fevers or chills", "+ fatigue", "weight stable", "appetite fair", "reports night sweats"],
    "HEENT": ["negative", "denies sore throat", "mild mucositis"],
    "Cardiovascular": ["denies chest pain or palpitations", "negative", "no edema"],
    "Respiratory": ["denies shortness of breath", "mild DOE with stairs", "negative", "occasional dry cough"],
    "GI": ["denies nausea/vomiting", "mild nausea controlled with ondansetron", "constipation", "negative"],
    "GU": ["denies dysuria or hematuria", "negative", "nocturia x2"],
    "Skin": ["no rashes", "mild dryness", "negative"],
    "Neuro": ["denies numbness or tingling", "grade 1 neuropathy in fingertips", "negative"],
    "Psych": ["mood stable", "some anxiety about scans", "negative"],
    "Musculoskeletal": ["denies bone pain", "mild arthralgias", "negative"],
}
NURSING_EXTRA = [
    "Pain {p}/10.", "Fall risk screen negative.", "Distress thermometer {p}/10.", "Pt ambulating independently.",
    "Allergies reviewed.", "Medication list reconciled.", "Patient tolerated the procedure well.",
    "Education provided on neutropenic precautions.", "Advance directive on file.", "Pt accompanied by spouse.",
    "Nutrition screen: no concerns.", "Port flushed with good blood return.",
]
EXAM = [
    "General: well-appearing, in no acute distress.", "HEENT: anicteric sclerae, oropharynx clear.",
    "Lungs: clear to auscultation bilaterally.", "CV: regular rate and rhythm, no murmurs.",
    "Abdomen: soft, non-tender, non-distended.", "Extremities: no edema.", "Neuro: alert and oriented x3, nonfocal.",
    "Skin: no rash.", "Lymph: no cervical or supraclavicular adenopathy.", "Psych: appropriate mood and affect.",
    "Port site clean, dry and intact.", "Gait steady.",
]
FOLLOW_UP = ["RTC in {n} weeks", "Return to clinic in {n} weeks", "F/u in {n} wks", "Follow up in {n} weeks",
             "See back in {n} weeks", "Next visit in {n} weeks"]
SUPPORTIVE = [
    "Ondansetron 8 mg PO q8h PRN nausea", "Prochlorperazine 10 mg PO q6h PRN", "Dexamethasone 8 mg PO day 2-3",
    "Pegfilgrastim 6 mg SC on day 2", "Magic mouthwash PRN mucositis", "Loperamide 4 mg then 2 mg after each loose stool",
    "Olanzapine 5 mg PO at bedtime days 1-4", "Lidocaine-prilocaine cream to port before access",
]
