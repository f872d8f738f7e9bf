"""The authorization matrix: every URL the portal serves (web, API, admin, feeds), found
through the URL resolver, × six people × their own lab's object and another lab's.

POLICY below is the rule book, one line per URL name and method. A URL pattern that it
does not cover fails `test_every_url_is_in_the_policy`, so a new page cannot ship
without someone deciding who may use it.

Who may do what (the words of the table):

    PUBLIC     anyone, logged in or not
    LOGIN      anyone logged in
    MEMBER     a member of the object's lab (any role); superusers
    ENGINEER   a data engineer of the object's lab; superusers
    OWNER      only the person the object belongs to (API tokens), superusers included
    FEED       a feed URL carries the reader's feed token: members of the object's lab
    SUPERUSER  superusers only (Django's admin)
    LOGIN_PAGE the login form: shown to anonymous people, logged-in ones go home
    ADMINS     a portal page for superusers only (creating labs): others get a 403
    INVITEE    a one-time invitation link: whoever holds it (logged in or not)

And what everyone else gets: another lab's object is a 404 (never a peek, never a 403
that confirms it exists); a role that may not act is a 403 that says why; anonymous
people are sent to the login page on the web and get a 401 from the API.

The objects are built once for the module inside a transaction that is rolled back at
the end (Django's setUpTestData pattern); each case runs in its own savepoint, so an
allowed DELETE or approve in one case does not change the next."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlparse

import pytest
from django.core.cache import cache
from django.db import transaction
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from datasets.api.tokens import token_create
from datasets.feeds import feed_token_of
from datasets.models import LabPattern, Membership, Role, Webhook, WebhookDelivery
from datasets.services.labs import invitation_create
from tests.builders import Team
from tests.factories import UserFactory, member

PUBLIC, LOGIN, MEMBER, ENGINEER = "PUBLIC", "LOGIN", "MEMBER", "ENGINEER"
OWNER, FEED, SUPERUSER, LOGIN_PAGE = "OWNER", "FEED", "SUPERUSER", "LOGIN_PAGE"
ADMINS, INVITEE = "ADMINS", "INVITEE"

PEOPLE = ["anonymous", "researcher_a", "researcher_b", "engineer_a", "engineer_b", "superuser"]
OWN, OTHER = "own", "other"


@dataclass(frozen=True)
class Entry:
    """Who may use one URL, per HTTP method; `obj` names the object in its arguments."""

    obj: str | None
    methods: dict[str, str]
    # Statuses that count as "allowed" for a method, when not the default for its kind.
    ok: dict[str, tuple[int, ...]] = field(default_factory=dict)


def E(obj=None, ok=None, **methods) -> Entry:
    return Entry(obj, methods, ok or {})


# A form that lives on another page: GET sends you there.
GOES_BACK = {"GET": (302,)}

# fmt: off
POLICY: dict[str, Entry] = {
    # --- the portal -------------------------------------------------------------------
    "home":                        E(GET=PUBLIC),
    "healthz":                     E(GET=PUBLIC),
    "healthz_live":                E(GET=PUBLIC),
    "healthz_ready":               E(GET=PUBLIC),
    "login":                       E(GET=LOGIN_PAGE),
    "logout":                      E(POST=PUBLIC, ok={"POST": (302,)}),
    # --- API tokens (the account page) --------------------------------------------------
    "tokens:list":                 E(GET=LOGIN),
    "tokens:create":               E(GET=LOGIN, POST=LOGIN),
    "tokens:revoke":               E("token", POST=OWNER),
    # --- datasets --------------------------------------------------------------------------
    "datasets:dataset_list":       E(GET=LOGIN),
    "datasets:dataset_create":     E(GET=LOGIN, POST=LOGIN),
    "datasets:dataset_detail":     E("dataset", GET=MEMBER),
    "datasets:dataset_edit":       E("dataset", GET=MEMBER, POST=MEMBER),
    "datasets:dataset_delete":     E("dataset", GET=MEMBER, POST=MEMBER),
    "datasets:dataset_metadata":   E("dataset", GET=MEMBER),
    # Issue 19: 404 for a member when there is nothing yet (no cover, nothing published).
    "datasets:dataset_cover":      E("dataset", GET=MEMBER, ok={"GET": (200, 404)}),
    "datasets:dataset_citation_bib": E("dataset", GET=MEMBER, ok={"GET": (200, 404)}),
    "datasets:dataset_citation_cff": E("dataset", GET=MEMBER, ok={"GET": (200, 404)}),
    "datasets:version_datapackage": E("submission", GET=MEMBER, ok={"GET": (200, 404)}),
    "datasets:markdown_preview":   E(POST=LOGIN),
    # What is on Kaggle: engineers, after a confirmation page (an empty POST re-shows it).
    "datasets:dataset_make_public": E("dataset", GET=ENGINEER, POST=ENGINEER),
    "datasets:dataset_remove_from_kaggle": E("dataset", GET=ENGINEER, POST=ENGINEER),
    # --- files -------------------------------------------------------------------------
    "datasets:file_upload":        E("dataset", GET=MEMBER, POST=MEMBER),
    # Resumable uploads (tus): past the login and the lab scope, a request without the
    # protocol's header is a 412; an upload id is the uploader's own (404 otherwise).
    "datasets:file_tus":           E("dataset", POST=MEMBER, ok={"POST": (412,)}),
    "datasets:file_tus_upload":    E("dataset", PATCH=MEMBER, DELETE=MEMBER,
                                     ok={"PATCH": (412,), "DELETE": (412,)}),
    "datasets:file_add_storage":   E("dataset", GET=MEMBER, POST=MEMBER),
    "datasets:storage_browse":     E("dataset", GET=MEMBER),
    "datasets:file_edit":          E("file", GET=MEMBER, POST=MEMBER),
    # A folder's entries. (A version's are named by ?folder=, which the matrix does not
    # send: a member gets its 404; tests/datasets/test_folder_entries.py lists them.)
    "datasets:file_entries":       E("folder", GET=MEMBER),
    "datasets:submission_entries": E("submission", GET=MEMBER, ok={"GET": (404,)}),
    # One table's columns, named by ?entry= (not sent here: a member gets the 404;
    # tests/datasets/test_folder_columns.py edits them).
    "datasets:file_entry_columns": E("folder", GET=MEMBER, POST=MEMBER,
                                     ok={"GET": (404,), "POST": (404,)}),
    "datasets:file_delete":        E("file", POST=MEMBER),
    # --- labs: every member may look, engineers change ------------------------------------
    "datasets:lab_list":           E(GET=LOGIN),
    "datasets:lab_settings":       E("lab", GET=MEMBER),
    # (Their forms live on the lab page: a GET goes there.)
    "datasets:account_add":        E("lab", GET=ENGINEER, POST=ENGINEER, ok=GOES_BACK),
    "datasets:storageroot_add":    E("lab", GET=ENGINEER, POST=ENGINEER, ok=GOES_BACK),
    "datasets:account_secret":     E("account", GET=ENGINEER, POST=ENGINEER),
    "datasets:account_test":       E("account", POST=ENGINEER),
    "datasets:account_delete":     E("account", POST=ENGINEER),
    "datasets:storageroot_delete": E("root", POST=ENGINEER),
    # Lab administration: superusers create labs, engineers run their members.
    "datasets:lab_create":         E(GET=ADMINS, POST=ADMINS),
    "datasets:member_add":         E("lab", GET=ENGINEER, POST=ENGINEER, ok=GOES_BACK),
    "datasets:invitation_create":  E("lab", GET=ENGINEER, POST=ENGINEER, ok=GOES_BACK),
    "datasets:member_role":        E("membership", POST=ENGINEER),
    "datasets:member_remove":      E("membership", POST=ENGINEER),
    "datasets:invitation_revoke":  E("invitation", POST=ENGINEER),
    "datasets:invitation_accept":  E("invitation_token", GET=INVITEE, POST=INVITEE),
    # The content scan's lab patterns, and re-running a scan: engineers.
    "datasets:labpattern_add":     E("lab", GET=ENGINEER, POST=ENGINEER, ok=GOES_BACK),
    "datasets:labpattern_delete":  E("pattern", POST=ENGINEER),
    "datasets:submission_scan_rerun": E("submission", POST=ENGINEER),
    # --- review ------------------------------------------------------------------------
    "datasets:submission_create":  E("dataset", GET=MEMBER, POST=MEMBER),
    # The submitter or an engineer; in this matrix the lab's researcher is the submitter.
    "datasets:submission_withdraw": E("submission", POST=MEMBER),
    "datasets:review_queue":       E(GET=LOGIN),
    "datasets:review":             E("submission", GET=MEMBER),
    # (Their forms live on the review page: a GET goes there.)
    "datasets:submission_approve": E("submission", GET=ENGINEER, POST=ENGINEER, ok=GOES_BACK),
    "datasets:submission_return":  E("submission", GET=ENGINEER, POST=ENGINEER, ok=GOES_BACK),
    "datasets:comment_add":        E("submission", GET=MEMBER, POST=MEMBER, ok=GOES_BACK),
    # --- publishing and history --------------------------------------------------------
    "datasets:job_detail":         E("job", GET=MEMBER),
    "datasets:job_cancel":         E("job", POST=ENGINEER),
    "datasets:job_retry":          E("job", POST=ENGINEER),
    "datasets:history":            E(GET=LOGIN),
    "datasets:history_csv":        E(GET=LOGIN),
    "datasets:dashboard":          E(GET=LOGIN),
    "datasets:dashboard_workers":  E(GET=LOGIN),
    "datasets:feed_dataset":       E("dataset", GET=FEED),
    "datasets:feed_lab":           E("lab", GET=FEED),
    # --- continuous publishing: members look at schedules, engineers change them ------------
    "datasets:schedule":           E("dataset", GET=MEMBER, POST=ENGINEER),
    "datasets:schedule_delete":    E("dataset", POST=ENGINEER),
    "datasets:schedule_check":     E("dataset", POST=ENGINEER),
    # Webhook URLs may carry tokens: only engineers see them.
    "datasets:webhook_add":        E("lab", GET=ENGINEER, POST=ENGINEER, ok=GOES_BACK),
    "datasets:webhook_detail":     E("webhook", GET=ENGINEER, POST=ENGINEER),
    "datasets:webhook_delete":     E("webhook", POST=ENGINEER),
    "datasets:webhook_resend":     E("delivery", POST=ENGINEER),
    # --- people ------------------------------------------------------------------------
    "datasets:profile":            E(GET=LOGIN, POST=LOGIN),
    "datasets:feed_token_reset":   E(POST=LOGIN),
    # --- the API -------------------------------------------------------------------------
    "api:token":                   E(POST=PUBLIC),
    "api:schema":                  E(GET=PUBLIC),
    "api:docs":                    E(GET=PUBLIC),
    "api:labs":                    E(GET=LOGIN),
    "api:datasets":                E(GET=LOGIN, POST=LOGIN),
    "api:dataset":                 E("dataset", GET=MEMBER, PATCH=MEMBER, DELETE=MEMBER),
    "api:files":                   E("dataset", GET=MEMBER, POST=MEMBER),
    "api:file":                    E("file", GET=MEMBER, PATCH=MEMBER, DELETE=MEMBER),
    "api:file_entries":            E("folder", GET=MEMBER),
    # The cover edits the dataset's metadata: any member, like PATCH; no cover yet is a
    # 404, and the matrix's empty JSON body is not an image (400).
    "api:dataset_cover":           E("dataset", GET=MEMBER, PUT=MEMBER, DELETE=MEMBER,
                                     ok={"GET": (200, 404), "PUT": (400,)}),
    "api:kaggle_metadata":         E("dataset", GET=MEMBER),
    "api:history":                 E("dataset", GET=MEMBER),
    "api:dataset_make_public":     E("dataset", POST=ENGINEER),
    "api:dataset_remove_from_kaggle": E("dataset", POST=ENGINEER),
    "api:dataset_submissions":     E("dataset", GET=MEMBER, POST=MEMBER),
    "api:submissions":             E(GET=LOGIN),
    "api:submission":              E("submission", GET=MEMBER),
    "api:approve":                 E("submission", POST=ENGINEER),
    "api:return":                  E("submission", POST=ENGINEER),
    "api:withdraw":                E("submission", POST=MEMBER),
    "api:comments":                E("submission", GET=MEMBER, POST=MEMBER),
    "api:jobs":                    E(GET=LOGIN),
    "api:job":                     E("job", GET=MEMBER),
    "api:job_cancel":              E("job", POST=ENGINEER),
    "api:job_retry":               E("job", POST=ENGINEER),
    # Lab administration: members look, engineers change.
    "api:lab_members":             E("api_lab", GET=MEMBER, POST=ENGINEER),
    "api:lab_member":              E("api_member", GET=MEMBER, PATCH=ENGINEER, DELETE=ENGINEER),
    "api:lab_storage_roots":       E("api_lab", GET=MEMBER, POST=ENGINEER),
    "api:lab_storage_root":        E("api_root", GET=MEMBER, DELETE=ENGINEER),
    "api:lab_kaggle_accounts":     E("api_lab", GET=MEMBER, POST=ENGINEER),
    "api:lab_kaggle_account":      E("api_account", GET=MEMBER, DELETE=ENGINEER),
}
# fmt: on

# Django's admin: superusers only, every page (its own login page excepted). Its URLs
# come from the registered models, so they are covered by one rule, not one by one;
# the exceptions say what a superuser gets where the admin itself refuses.
ADMIN_PREFIX = "admin:"
ADMIN_CATCH_ALL = "admin:admin/(?P<url>.*)$"
# fmt: off
ADMIN_POLICY: dict[str, Entry] = {
    "admin:login":                     E(GET=PUBLIC, ok={"GET": (200, 302)}),
    "admin:logout":                    E(POST=PUBLIC, ok={"POST": (200, 302)}),
    # Without its query parameters the autocomplete refuses everyone.
    "admin:autocomplete":              E("admin", GET=SUPERUSER, ok={"GET": (403,)}),
    # A lab has no public page to go to.
    "admin:view_on_site":              E("admin", GET=SUPERUSER, ok={"GET": (404,)}),
    # The history is append-only, and login attempts are written by axes alone.
    "admin:datasets_event_add":        E("admin", GET=SUPERUSER, ok={"GET": (403,)}),
    "admin:datasets_event_delete":     E("admin", GET=SUPERUSER, ok={"GET": (403,)}),
    "admin:axes_accessattempt_add":    E("admin", GET=SUPERUSER, ok={"GET": (403,)}),
    "admin:axes_accesslog_add":        E("admin", GET=SUPERUSER, ok={"GET": (403,)}),
    "admin:axes_accessfailurelog_add": E("admin", GET=SUPERUSER, ok={"GET": (403,)}),
    # Invitations are made from the lab's page (the token exists only in the e-mail).
    "admin:datasets_invitation_add":   E("admin", GET=SUPERUSER, ok={"GET": (403,)}),
    # Job and submission states are history: read-only, never added or deleted by hand;
    # a lab with a history is archived, not deleted.
    "admin:datasets_submission_add":    E("admin", GET=SUPERUSER, ok={"GET": (403,)}),
    "admin:datasets_submission_delete": E("admin", GET=SUPERUSER, ok={"GET": (403,)}),
    "admin:datasets_publishjob_add":    E("admin", GET=SUPERUSER, ok={"GET": (403,)}),
    "admin:datasets_publishjob_delete": E("admin", GET=SUPERUSER, ok={"GET": (403,)}),
    "admin:datasets_lab_delete":        E("admin", GET=SUPERUSER, ok={"GET": (403,)}),
    ADMIN_CATCH_ALL:                   E("admin", GET=SUPERUSER, ok={"GET": (404,)}),
}
# fmt: on
ADMIN_DEFAULT = E("admin", GET=SUPERUSER, ok={"GET": (200, 302)})

# Allowed answers by kind of URL and method (an entry's `ok` overrides): a page is
# shown; an action redirects with its outcome, or re-shows its form with the errors of
# an empty POST; the API answers, or refuses the empty body (400) or the state (409).
WEB_OK = {"GET": (200,), "POST": (200, 302, 400)}
API_OK = {"GET": (200,), "POST": (200, 201, 400, 409), "PATCH": (200, 400), "DELETE": (204, 409)}


# --- the URL patterns, from the resolver ----------------------------------------------------


def url_patterns(patterns=None, prefix="", namespace=""):
    """(name, route) of every pattern, namespaces included; unnamed ones by route."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            ns = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from url_patterns(pattern.url_patterns, prefix + str(pattern.pattern), ns)
        elif isinstance(pattern, URLPattern):
            route = prefix + str(pattern.pattern)
            yield (f"{namespace}{pattern.name}" if pattern.name else f"{namespace}{route}"), route


def policy_for(name: str) -> Entry | None:
    if name.startswith(ADMIN_PREFIX):
        return ADMIN_POLICY.get(name, ADMIN_DEFAULT)
    return POLICY.get(name)


def cases():
    seen = set()
    for name, route in url_patterns():
        entry = policy_for(name)
        if entry is None or name in seen:
            continue
        seen.add(name)
        for method in entry.methods:
            mine = (OWN, OTHER) if entry.obj and entry.obj != "admin" else (OWN,)
            for person in PEOPLE:
                for whose in mine:
                    yield pytest.param(
                        name, route, method, person, whose, id=f"{name}-{method}-{person}-{whose}"
                    )


def test_every_url_is_in_the_policy():
    names = {name for name, _route in url_patterns()}
    missing = sorted(n for n in names if policy_for(n) is None)
    assert not missing, (
        f"URLs without an authorization policy: {missing}. Add each to POLICY in "
        f"{__file__} with who may use it."
    )
    stale = sorted(set(POLICY) - names)
    assert not stale, f"POLICY names URLs that no longer exist: {stale}"


# --- the world: two labs, each with one of everything ---------------------------------------


@dataclass
class LabObjects:
    team: Team
    dataset: object = None
    file: object = None
    folder: object = None
    submission: object = None
    job: object = None
    webhook: object = None
    delivery: object = None
    pattern: object = None
    membership: object = None
    invitation: object = None
    invitation_token: str = ""


@dataclass
class World:
    people: dict
    labs: dict  # "a" / "b" → LabObjects
    tokens: dict = field(default_factory=dict)  # person → (ApiToken, raw)
    feed_tokens: dict = field(default_factory=dict)


def _lab(storage, owner, slug_prefix) -> LabObjects:
    team = Team(storage, owner=owner)
    objects = LabObjects(team)
    objects.dataset = team.dataset(slug=f"{slug_prefix}-draft")
    objects.file = team.upload(objects.dataset, "readings.csv", b"t,temp\n1,12.5\n")
    (storage / "survey").mkdir()
    (storage / "survey" / "answers.csv").write_text("id,score\n1,4\n")
    objects.folder = team.add_storage(team.dataset(slug=f"{slug_prefix}-folder"), "survey")
    review = team.dataset(slug=f"{slug_prefix}-review")
    team.upload(review, "readings.csv", b"t,temp\n1,12.5\n")
    objects.submission = team.submit(review, notes="First.")
    published = team.dataset(slug=f"{slug_prefix}-approved")
    team.upload(published, "readings.csv", b"t,temp\n1,12.5\n")
    objects.job = team.approve(team.submit(published, notes="First."))
    objects.webhook = Webhook.objects.create(
        lab=team.lab, name="CI", url="https://hooks.example.org/wharf",
        secret_encrypted="-", secret_last4="abcd", events=["job.published"],
    )  # fmt: skip
    objects.delivery = WebhookDelivery.objects.create(
        webhook=objects.webhook, action="job.published", body="{}"
    )
    objects.pattern = LabPattern.objects.create(
        lab=team.lab, name="Participant id", pattern=r"P-\d{6}"
    )
    objects.membership = Membership.objects.get(lab=team.lab, user=team.ada)
    objects.invitation, objects.invitation_token = invitation_create(
        team.lab, actor=team.grace, email=f"new@{slug_prefix}.example", role=Role.RESEARCHER
    )
    return objects


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, tmp_path_factory):
    base = tmp_path_factory.mktemp("matrix")
    media = override_settings(
        MEDIA_ROOT=str(base / "media"), STORAGE_ROOTS_ALLOWED_UNDER=[str(base)]
    )
    media.enable()
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            # Nothing built here is committed, so nothing is ever sent to a worker.
            a = _lab(base / "a", "lab-a-kaggle", "alpha")
            b = _lab(base / "b", "lab-b-kaggle", "bravo")
            people = {
                "anonymous": None,
                "researcher_a": a.team.ada,
                "engineer_a": a.team.grace,
                "researcher_b": b.team.ada,
                "engineer_b": b.team.grace,
                "superuser": UserFactory(is_superuser=True, is_staff=True),
            }
            world = World(people, {"a": a, "b": b})
            for person, user in people.items():
                if user is not None:
                    world.tokens[person] = token_create(user, "matrix")
                    world.feed_tokens[person] = feed_token_of(user)
            yield world
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)
            media.disable()


def lab_of(person: str, whose: str) -> str:
    """Which lab's object a person asks for: their own lab's, or the other one."""
    home = "b" if person.endswith("_b") else "a"
    return home if whose == OWN else {"a": "b", "b": "a"}[home]


def url_kwargs(world: World, name: str, route: str, entry: Entry, person: str, whose: str):
    objects = world.labs[lab_of(person, whose)]
    kinds = {
        "dataset": {"pk": objects.dataset.pk},
        "file": {"pk": objects.file.pk},
        "folder": {"pk": objects.folder.pk},
        "submission": {"pk": objects.submission.pk},
        "job": {"pk": objects.job.pk},
        "account": {"pk": objects.team.account.pk},
        "root": {"pk": objects.team.root.pk},
        "lab": {"slug": objects.team.lab.slug},
        "webhook": {"pk": objects.webhook.pk},
        "delivery": {"pk": objects.delivery.pk},
        "pattern": {"pk": objects.pattern.pk},
        "membership": {"pk": objects.membership.pk},
        "invitation": {"pk": objects.invitation.pk},
        "invitation_token": {"token": objects.invitation_token},
        "api_lab": {"pk": objects.team.lab.pk},
        "api_member": {"pk": objects.team.lab.pk, "member_pk": objects.membership.pk},
        "api_root": {"pk": objects.team.lab.pk, "root_pk": objects.team.root.pk},
        "api_account": {"pk": objects.team.lab.pk, "account_pk": objects.team.account.pk},
    }
    if entry.obj == "token":
        if whose == OWN:
            owner = person if person != "anonymous" else "researcher_a"
        else:
            owner = "researcher_a" if person.endswith("_b") else "researcher_b"
        return {"pk": world.tokens[owner][0].pk}
    if entry.obj == "admin":
        return admin_kwargs(world, route)
    kwargs = dict(kinds[entry.obj]) if entry.obj else {}
    if name.startswith("api:") and entry.obj == "file":
        kwargs = {"pk": objects.dataset.pk, "file_pk": objects.file.pk}
    if name.startswith("api:") and entry.obj == "folder":
        kwargs = {"pk": objects.folder.dataset_id, "file_pk": objects.folder.pk}
    if "<str:upload_id>" in route:
        kwargs["upload_id"] = "no-such-upload-of-anyone"
    if "<str:token>" in route and entry.obj != "invitation_token":
        # A feed reader has no session: the URL's token says who reads.
        kwargs["token"] = world.feed_tokens.get(person, "no-such-feed-token")
    return kwargs


def admin_kwargs(world: World, route: str) -> dict:
    """Arguments for an admin URL: lab A's lab row, or the superuser's own account."""
    from django.contrib.contenttypes.models import ContentType

    lab = world.labs["a"].team.lab
    kwargs = {}
    if "object_id" in route:
        kwargs["object_id"] = str(lab.pk)
    if "<id>" in route:
        kwargs["id"] = str(world.people["superuser"].pk)
    if "app_label" in route:
        kwargs["app_label"] = "datasets"
    if "content_type_id" in route:
        kwargs["content_type_id"] = ContentType.objects.get_for_model(lab).pk
    return kwargs


def resolve_url(name: str, route: str, kwargs: dict) -> str:
    if name == ADMIN_CATCH_ALL:
        return "/admin/no-such-page/"
    if name == ADMIN_PREFIX + route:  # an unnamed admin pattern: fill in its route
        for key, value in kwargs.items():
            route = route.replace(f"<path:{key}>", value)
        return "/" + route
    return reverse(name, kwargs=kwargs)


# --- what each person should get ---------------------------------------------------------


def expected(rule: str, person: str, whose: str, is_api: bool) -> str:
    """'ok', 'login' (web, anonymous), '401' (API, anonymous), '403', '404', 'home' (the
    login page for someone logged in) or 'admin-login'."""
    anonymous = person == "anonymous"
    if rule == PUBLIC:
        return "ok"
    if rule == LOGIN_PAGE:
        return "ok" if anonymous else "home"
    if rule == INVITEE:
        return "ok"
    if rule == ADMINS:
        if anonymous:
            return "login"
        return "ok" if person == "superuser" else "403"
    if rule == SUPERUSER:
        return "ok" if person == "superuser" else "admin-login"
    if rule == FEED:
        if anonymous:
            return "404"
        return "ok" if person == "superuser" or whose == OWN else "404"
    if anonymous:
        return "401" if is_api else "login"
    if rule == LOGIN:
        return "ok"
    if rule == OWNER:
        return "ok" if whose == OWN else "404"
    if person == "superuser":
        return "ok"
    if whose == OTHER:
        return "404"
    if rule == MEMBER:
        return "ok"
    if rule == ENGINEER:
        return "ok" if person.startswith("engineer") else "403"
    raise AssertionError(f"unknown rule {rule}")


@pytest.fixture(autouse=True)
def _quiet_outside_world(monkeypatch):
    """No Kaggle call and no worker ping while the matrix runs; the throttle starts afresh."""
    monkeypatch.setattr("datasets.kaggle.test_connection", lambda account: (True, "stub"))
    monkeypatch.setattr("portal.health.worker_queues", lambda: {"w@h": {"default", "publish"}})
    cache.clear()
    yield
    cache.clear()


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "route", "method", "person", "whose"), list(cases()))
def test_authorization_matrix(world, name, route, method, person, whose):
    entry = policy_for(name)
    is_api = name.startswith("api:")
    kwargs = url_kwargs(world, name, route, entry, person, whose)
    url = resolve_url(name, route, kwargs)
    client = Client()
    user = world.people[person]
    headers = {}
    if user is not None:
        if is_api:
            headers["Authorization"] = f"Token {world.tokens[person][1]}"
        else:
            client.force_login(user)
    data = {} if method != "GET" else None
    kwargs = {"content_type": "application/json"} if is_api and method != "GET" else {}
    response = getattr(client, method.lower())(url, data, headers=headers, **kwargs)
    want = expected(entry.methods[method], person, whose, is_api)
    status = response.status_code
    where = urlparse(response.get("Location", "")).path
    detail = f"{method} {url} as {person} ({whose}): {status} {where}".strip()
    assert status < 500, detail
    if want == "ok":
        allowed = entry.ok.get(method) or (API_OK if is_api else WEB_OK)[method]
        assert status in allowed, f"{detail}; expected one of {allowed}"
        if status == 302 and name not in ("logout", "admin:logout"):  # (lands on login)
            assert where not in (reverse("login"), reverse("admin:login")), detail
    elif want == "login":
        assert status == 302 and where == reverse("login"), f"{detail}; expected the login page"
    elif want == "admin-login":
        assert status == 302 and where == reverse("admin:login"), f"{detail}; expected admin login"
    elif want == "home":
        assert status == 302 and where == reverse("home"), f"{detail}; expected a redirect home"
    else:
        assert status == int(want), f"{detail}; expected {want}"


def test_the_matrix_covers_six_people_and_both_labs():
    # A guard on the parametrisation itself: every URL appears for every person.
    params = list(cases())
    per_name: dict[str, set] = {}
    for p in params:
        name, _route, _method, person, _whose = p.values
        per_name.setdefault(name, set()).add(person)
    assert all(people == set(PEOPLE) for people in per_name.values())
    assert len(params) > 600


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "method", "obj"),
    [
        ("datasets:dataset_delete", "POST", "dataset"),
        ("datasets:submission_withdraw", "POST", "submission"),
        ("api:dataset", "DELETE", "dataset"),
        ("api:withdraw", "POST", "submission"),
    ],
)
def test_a_researcher_may_not_delete_or_withdraw_a_colleagues_work(world, name, method, obj):
    """The rows above the matrix cannot show: a second researcher of the same lab is a
    member (so no 404), but only the one who registered the dataset or submitted the
    version (or an engineer) may delete or withdraw it: 403, on the web too."""
    lab = world.labs["a"]
    colleague = member(lab.team.lab, Role.RESEARCHER)
    url = reverse(name, args=[getattr(lab, obj).pk])
    client = Client()
    headers = {}
    if name.startswith("api:"):
        headers["Authorization"] = f"Token {token_create(colleague, 'matrix')[1]}"
    else:
        client.force_login(colleague)
    response = getattr(client, method.lower())(url, headers=headers)
    assert response.status_code == 403, (name, response.status_code)
    assert b"Only" in response.content or b"only" in response.content
