"""Kaggle's tag vocabulary: a dataset keyword that is not one of these is dropped and
reported back in `invalidTags` (ApiCreateDatasetResponse.invalid_tags).

Where the tags come from (FIDELITY.md, "keywords"):

- SOURCED_TAGS: every tag (id, name, slug, place in the tree) found in a captured
  answer of Kaggle's own dataset listing (kaggle.com `datasets` search results, the
  `categories` of each dataset), kept in the public repository
  github.com/w33haa2/prototype-hackathon, file responses.js, commit 4e530d9d.
  Their parents in the tree (`fullPath`, e.g. "earth science") are tags too.
- DOCUMENTED_TAGS: the keywords of Kaggle's own dataset-metadata example
  (Kaggle/kaggle-api wiki "Dataset Metadata": "beginner", "tutorial").
- UNSOURCED_TAGS: an older list this sandbox used to carry, plausible but with no
  source; only the setting tag_vocabulary="extended" accepts them.

Matching ignores case and treats "-" and "_" as spaces, so the slug of a tag
("tabular-data") and its name ("tabular") both match.
"""

from __future__ import annotations

# id | name | slug | fullPath, as Kaggle answered them.
_SOURCED_TABLE = """
13210 | statistical analysis | statistical-analysis | analysis > statistical analysis
16846 | yolo | yolo | architecture > yolo
17164 | yolov8 | yolov8 | architecture > yolov8
13104 | advanced | advanced | audience > advanced
13102 | beginner | beginner | audience > beginner
13103 | intermediate | intermediate | audience > intermediate
6603 | categorical | categorical-data | data type > categorical
14102 | image | image-data | data type > image
14101 | tabular | tabular-data | data type > tabular
14104 | text | text-data | data type > text
16663 | middle east | middle-east | geography and places > middle east
3022 | united states | united-states | geography and places > north america > united states
2200 | arts and entertainment | arts-and-entertainment | subject > arts and entertainment
2400 | art | visual-arts | subject > arts and entertainment > art
2303 | movies and tv shows | film | subject > arts and entertainment > movies and tv shows
2304 | music | music | subject > arts and entertainment > music
2500 | games | games-and-toys | subject > culture and humanities > games
7000 | earth and nature | natural-and-physical-sciences | subject > earth and nature
7301 | animals | animals | subject > earth and nature > animals
7100 | biology | biology | subject > earth and nature > biology
7202 | geography | geography | subject > earth and nature > earth science > geography
12001 | agriculture | agriculture | subject > earth and nature > environment > agriculture
7306 | plants | plants | subject > earth and nature > plants
4130 | exercise | exercise | subject > health and fitness > exercise
4141 | sports | sports | subject > health and fitness > exercise > sports
2606 | basketball | basketball | subject > health and fitness > exercise > sports > basketball
2629 | water sports | water-sports | subject > health and fitness > exercise > sports > water sports
11111 | health | health | subject > health and fitness > health
16378 | health conditions | health-conditions | subject > health and fitness > health \
    > health conditions
16382 | cancer | cancer | subject > health and fitness > health > health conditions > cancer
4202 | healthcare | healthcare | subject > health and fitness > health > healthcare
12028 | medicine | medicine | subject > health and fitness > health > medicine
4306 | nutrition | nutrition | subject > health and fitness > health > nutrition
4309 | public health | public-health | subject > health and fitness > health > public health
11102 | business | business | subject > people and society > business
11108 | finance | finance | subject > people and society > business > finance
11129 | banking | banking | subject > people and society > business > finance > banking
16371 | investing | investing | subject > people and society > business > finance > investing
11105 | education | education | subject > people and society > education
16414 | jobs and career | jobs | subject > people and society > jobs and career
8302 | employment | employment | subject > people and society > jobs and career > employment
8309 | income | income | subject > people and society > jobs and career > income
11115 | law | law | subject > people and society > law
16439 | public safety | public-safety | subject > people and society > law > government \
    > public safety
16453 | social issues and advocacy | social-issues-and-advocacy | subject \
    > people and society > social issues and advocacy
9109 | history | history | subject > people and society > social science > history
12107 | computer science | computer-science | subject > science and technology > computer science
16574 | tpu | tpu | subject > science and technology > computer science > accelerators > tpu
12101 | artificial intelligence | artificial-intelligence | subject > science and technology \
    > computer science > artificial intelligence
12125 | programming | programming | subject > science and technology > computer science \
    > programming
16639 | python | python | subject > science and technology > computer science > programming > python
16640 | r | r | subject > science and technology > computer science > programming > r
16641 | sql | sql | subject > science and technology > computer science > programming > sql
12127 | software | software | subject > science and technology > computer science > software
16525 | electricity | electricity | subject > science and technology > energy > electricity
16526 | oil and gas | oil-and-gas | subject > science and technology > energy > oil and gas
12300 | engineering | engineering | subject > science and technology > engineering
12026 | manufacturing | manufacturing | subject > science and technology > engineering \
    > manufacturing
16489 | online communities | online-communities | subject > science and technology \
    > internet > online communities
12402 | automobiles and vehicles | automobiles | subject > science and technology \
    > transportation > automobiles and vehicles
14201 | binary classification | binary-classification | task > binary-classification
13302 | classification | classification | task > classification
16686 | image classification | image-classification | task > image-classification
13405 | linear regression | linear-regression | task > linear regression
14202 | multiclass classification | multiclass-classification | task > multiclass classification
17074 | object detection | object-detection | task > object-detection
14203 | regression | regression | task > regression
13207 | computer vision | image-processing | technique > computer vision
13215 | data analytics | marketing-analytics | technique > data analytics
13208 | data visualization | data-visualization | technique > data visualization
13310 | deep learning | deep-learning | technique > deep learning
13309 | dimensionality reduction | dimensionality-reduction | technique > dimensionality reduction
13201 | exploratory data analysis | eda | technique > exploratory data analysis
13408 | k-means | k-means | technique > k-means
13407 | neural networks | neural-networks | technique > neural networks
13415 | cnn | architecture > cnn | technique > neural networks > cnn
13409 | pca | pca | technique > pca
13402 | random forest | random-forest | technique > random forest
"""
SOURCED_TAGS = tuple(
    (int(i), name, slug, " ".join(path.split()))
    for i, name, slug, path in (
        [part.strip() for part in line.split("|")] for line in _SOURCED_TABLE.strip().splitlines()
    )
)

# Inner nodes of the fullPaths above (the roots "subject", "task", "technique",
# "data type", "audience", "analysis", "architecture", "geography and places" are
# headings, not tags).
PARENT_TAGS = (
    "culture and humanities",
    "earth science",
    "energy",
    "environment",
    "government",
    "health and fitness",
    "internet",
    "north america",
    "people and society",
    "science and technology",
    "social science",
    "transportation",
)

DOCUMENTED_TAGS = ("beginner", "tutorial")

UNSOURCED_TAGS = (
    "beginner",
    "intermediate",
    "advanced",
    "tutorial",
    "education",
    "research",
    "data visualization",
    "exploratory data analysis",
    "data cleaning",
    "data analytics",
    "classification",
    "regression",
    "clustering",
    "time series analysis",
    "forecasting",
    "nlp",
    "text",
    "text mining",
    "computer vision",
    "image",
    "image classification",
    "object detection",
    "deep learning",
    "neural networks",
    "machine learning",
    "statistical analysis",
    "tabular",
    "video",
    "audio",
    "signal processing",
    "geospatial analysis",
    "remote sensing",
    "satellite images",
    "biology",
    "chemistry",
    "physics",
    "mathematics",
    "medicine",
    "health",
    "healthcare",
    "public health",
    "mental health",
    "genetics",
    "bioinformatics",
    "neuroscience",
    "psychology",
    "diseases",
    "cancer",
    "drugs and medications",
    "earth and nature",
    "earth science",
    "environment",
    "climate change",
    "weather and climate",
    "oceans",
    "water bodies",
    "pollution",
    "agriculture",
    "animals",
    "plants",
    "forestry",
    "geology",
    "astronomy",
    "energy",
    "economics",
    "finance",
    "business",
    "employment",
    "housing",
    "demographics",
    "sports",
    "social science",
    "government",
    "politics",
    "law",
    "crime",
    "transportation",
    "cities and urban areas",
    "covid19",
    "computer science",
    "software",
    "internet",
    "social networks",
    "universities and colleges",
    "science and technology",
    "arts and entertainment",
    "music",
    "movies and tv shows",
    "games",
    "food",
    "travel",
    "history",
    "religion and belief systems",
    "categorical",
    "survey analysis",
    "laboratory experiments",
)


def tag_key(tag: str) -> str:
    return " ".join(tag.replace("-", " ").replace("_", " ").lower().split())


def vocabulary(extended: bool) -> frozenset[str]:
    names = [name for _, name, _, _ in SOURCED_TAGS]
    names += [slug for _, _, slug, _ in SOURCED_TAGS]
    names += list(PARENT_TAGS) + list(DOCUMENTED_TAGS)
    if extended:
        names += list(UNSOURCED_TAGS)
    return frozenset(tag_key(n) for n in names)


SOURCED = vocabulary(extended=False)
EXTENDED = vocabulary(extended=True)


def split_keywords(keywords: list[str] | None, extended: bool) -> tuple[list[str], list[str]]:
    """(kept, invalid): kept in the order sent, without repeats."""
    known = EXTENDED if extended else SOURCED
    kept: list[str] = []
    invalid: list[str] = []
    for keyword in keywords or []:
        keyword = str(keyword)
        target = kept if tag_key(keyword) in known else invalid
        if keyword not in target:
            target.append(keyword)
    return kept, invalid
