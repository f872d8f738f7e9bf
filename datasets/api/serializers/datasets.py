"""Datasets, their files and their history."""

from rest_framework import serializers
from rest_framework.exceptions import NotFound

from datasets import cover, rules, tabular
from datasets.metadata import PUBLIC_FIELDS, SOURCES_MAX, MetadataError, clean_collaborators
from datasets.models import Dataset, DatasetFile, DatasetStatus, Event, Lab, Packaging, Source
from datasets.models.datasets import UpdateFrequency
from datasets.selectors import labs_of
from datasets.versions import dataset_version_label

from .common import WebUrlMixin, id_field, portal_url, username

# --- Datasets ----------------------------------------------------------------------


class DatasetSerializer(WebUrlMixin, serializers.ModelSerializer):
    ref = serializers.CharField(read_only=True)
    lab_slug = serializers.CharField(source="lab.slug", read_only=True)
    is_editable = serializers.BooleanField(read_only=True)
    created_by = serializers.SerializerMethodField()
    version_label = serializers.SerializerMethodField()
    cover_url = serializers.SerializerMethodField()

    class Meta:
        model = Dataset
        fields = [
            "id",
            "lab",
            "lab_slug",
            "ref",
            *PUBLIC_FIELDS,
            "status",
            "is_editable",
            "latest_version",
            "kaggle_version",
            "version_label",
            "kaggle_url",
            "return_reason",
            "cover_url",
            "created_by",
            "created_at",
            "updated_at",
            "last_event_at",
            "last_event_action",
            "web_url",
        ]
        read_only_fields = fields

    def get_created_by(self, obj) -> str | None:
        return username(obj.created_by)

    def get_cover_url(self, obj) -> str | None:
        """The cover image Wharf stores (a sanitised PNG fitted to Kaggle's header), or
        null without one. PUT an image there to set it, DELETE to remove it."""
        if not obj.cover_image:
            return None
        return portal_url(self.context.get("request"), "api:dataset_cover", obj.pk)

    def get_version_label(self, obj) -> str:
        """The latest published version, Wharf's and Kaggle's number ("v3 · Kaggle v4")."""
        return dataset_version_label(obj)

    def get_web_url(self, obj) -> str | None:
        return self._url("datasets:dataset_detail", obj.pk)


class DatasetInputSerializer(serializers.Serializer):
    """The metadata fields shared by create and update, checked by Kaggle's rules."""

    owner_slug = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=50,
        help_text="The Kaggle owner to publish under; may be omitted when the lab has "
        "one Kaggle account.",
    )
    # No max_length on these: the rules say how long they may be, in Kaggle's words.
    slug = serializers.CharField(allow_blank=True)
    title = serializers.CharField(allow_blank=True)
    subtitle = serializers.CharField(required=False, allow_blank=True)
    description = serializers.CharField(
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        max_length=rules.DESCRIPTION_MAX,
        error_messages={
            "max_length": f"Keep the description under {rules.DESCRIPTION_MAX:,} characters."
        },
        help_text="Markdown.",
    )
    license = serializers.ChoiceField(
        choices=list(rules.LICENSES),
        error_messages={
            "invalid_choice": "'{input}' is not one of Kaggle's licenses; choose one from the list."
        },
    )
    keywords = serializers.ListField(
        child=serializers.CharField(allow_blank=True), required=False, max_length=100
    )
    is_private = serializers.BooleanField(default=True)
    source = serializers.ChoiceField(choices=Source.choices, default=Source.UPLOAD)
    folder_packaging = serializers.ChoiceField(choices=Packaging.choices, default=Packaging.ZIP)
    user_specified_sources = serializers.CharField(
        required=False, allow_blank=True, max_length=SOURCES_MAX, help_text="Sources, free text."
    )
    expected_update_frequency = serializers.ChoiceField(
        choices=UpdateFrequency.choices, required=False, allow_blank=True
    )
    collaborators = serializers.ListField(
        child=serializers.DictField(),
        required=False,
        max_length=100,
        help_text='[{"username": a lab member\'s Kaggle username, "role": "reader"|"writer"}]',
    )

    def validate_user_specified_sources(self, value):
        rules.check_no_control_characters(value.replace("\r", ""), "The sources")
        return value

    def _collaborators(self, lab, attrs):
        if "collaborators" in attrs:
            try:
                attrs["collaborators"] = clean_collaborators(lab, attrs["collaborators"])
            except MetadataError as exc:
                raise serializers.ValidationError({"collaborators": [str(exc)]}) from None
        return attrs

    def validate_slug(self, value):
        rules.check_slug(value)
        return value

    def validate_title(self, value):
        rules.check_title(value)
        return value

    def validate_subtitle(self, value):
        rules.check_subtitle(value)
        return value

    def validate_description(self, value):
        rules.check_no_control_characters(value.replace("\r", ""), "The description")
        return value

    def validate_keywords(self, value):
        return rules.clean_keywords(value)

    def kaggle_account_for(self, lab: Lab, owner_slug: str):
        accounts = list(lab.kaggle_accounts.all())
        if owner_slug:
            for account in accounts:
                if account.owner_slug.lower() == owner_slug.lower():
                    return account
            names = ", ".join(a.owner_slug for a in accounts) or "none yet"
            raise serializers.ValidationError(
                {
                    "owner_slug": [
                        f"{lab.name} has no Kaggle account '{owner_slug}' (it has: {names})."
                    ]
                }
            )
        if len(accounts) == 1:
            return accounts[0]
        if not accounts:
            raise serializers.ValidationError(
                {
                    "owner_slug": [
                        f"{lab.name} has no Kaggle account yet; a data engineer of the lab "
                        "adds one first."
                    ]
                }
            )
        names = ", ".join(a.owner_slug for a in accounts)
        raise serializers.ValidationError(
            {"owner_slug": [f"{lab.name} has several Kaggle accounts; say which one: {names}."]}
        )


class DatasetCreateSerializer(DatasetInputSerializer):
    lab = id_field(help_text="The id of one of your labs.")
    storage_path = serializers.CharField(
        required=False,
        max_length=4096,
        help_text="A file or folder under one of the lab's storage roots, added as the "
        "dataset's first file (implies source 'storage').",
    )

    def validate_lab(self, value):
        lab = labs_of(self.context["request"].user).filter(pk=value).first()
        if lab is None:
            raise NotFound("No such lab among yours.")
        return lab

    def validate(self, attrs):
        attrs["kaggle_account"] = self.kaggle_account_for(attrs["lab"], attrs.pop("owner_slug", ""))
        if attrs.get("storage_path"):
            if "source" in self.initial_data and attrs["source"] != Source.STORAGE:
                raise serializers.ValidationError(
                    {"storage_path": ["A storage path goes with source 'storage'."]}
                )
            attrs["source"] = Source.STORAGE
        return self._collaborators(attrs["lab"], attrs)


class DatasetUpdateSerializer(DatasetInputSerializer):
    lab = id_field(required=False, help_text="Read-only: a dataset stays in its lab.")

    def validate_lab(self, value):
        if value != self.instance.lab_id:
            raise serializers.ValidationError("A dataset cannot move to another lab.")
        return value

    def validate(self, attrs):
        attrs.pop("lab", None)
        if "owner_slug" in attrs:
            attrs["kaggle_account"] = self.kaggle_account_for(
                self.instance.lab, attrs.pop("owner_slug")
            )
        return self._collaborators(self.instance.lab, attrs)


# --- Files -------------------------------------------------------------------------


class ColumnSerializer(serializers.Serializer):
    """A column of a CSV/TSV, inferred with Frictionless when the file was added."""

    name = serializers.CharField()
    type = serializers.ChoiceField(
        choices=tabular.TYPES, help_text="A Frictionless Table Schema type, as sent to Kaggle."
    )
    inferred_type = serializers.CharField(
        required=False, help_text="What Frictionless inferred; differs when corrected."
    )
    description = serializers.CharField(default="")


class DatasetFileSerializer(WebUrlMixin, serializers.ModelSerializer):
    origin = serializers.CharField(read_only=True)
    storage_path = serializers.SerializerMethodField()
    columns = ColumnSerializer(
        many=True,
        read_only=True,
        help_text="A CSV/TSV's columns; PATCH their types and descriptions. Empty for "
        "other files and for folders.",
    )
    entry_columns = serializers.DictField(
        child=ColumnSerializer(many=True),
        read_only=True,
        help_text="A folder's tabular entries: {path inside the folder: columns}; PATCH "
        "their types and descriptions (see also .../entries/).",
    )

    class Meta:
        model = DatasetFile
        fields = [
            "id",
            "path",
            "description",
            "size",
            "kind",
            "entry_count",
            "columns",
            "columns_error",
            "entry_columns",
            "origin",
            "storage_root",
            "storage_path",
            "added_at",
            "web_url",
        ]
        read_only_fields = fields

    def get_storage_path(self, obj) -> str | None:
        if not obj.storage_root_id:
            return None
        return f"{obj.storage_root.path.rstrip('/')}/{obj.storage_relpath}".removesuffix("/.")

    def get_web_url(self, obj) -> str | None:
        return self._url("datasets:dataset_detail", obj.dataset_id, anchor=f"#file-{obj.pk}")


class FileUploadSerializer(serializers.Serializer):
    # Empty files and the size limit are the service's to refuse, with its message.
    file = serializers.FileField(allow_empty_file=True, use_url=False)
    path = serializers.CharField(
        required=False, allow_blank=True, help_text="The published name; default: the file's."
    )
    description = serializers.CharField(required=False, allow_blank=True)


class FileStorageSerializer(serializers.Serializer):
    storage_path = serializers.CharField(
        max_length=4096,
        help_text="The absolute path of a file or folder under one of the lab's storage "
        "roots (or a path relative to `storage_root`, or to the lab's only root).",
    )
    storage_root = id_field(required=False)
    path = serializers.CharField(
        required=False, allow_blank=True, help_text="The published name; default: its own."
    )
    description = serializers.CharField(required=False, allow_blank=True)


class FileAddSerializer(serializers.Serializer):
    """For the schema: the two bodies POST /files/ accepts."""

    file = serializers.FileField(required=False)
    storage_path = serializers.CharField(required=False)
    storage_root = serializers.IntegerField(required=False)
    path = serializers.CharField(required=False)
    description = serializers.CharField(required=False)


class ColumnEditSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="The column's name, as in the file (not edited).")
    type = serializers.ChoiceField(
        choices=tabular.TYPES,
        required=False,
        error_messages={"invalid_choice": "'{input}' is not a Table Schema type."},
        help_text="A corrected Table Schema type; left out: unchanged.",
    )
    description = serializers.CharField(
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        max_length=tabular.COLUMN_DESCRIPTION_MAX,
        help_text="Left out: unchanged; empty: removed.",
    )


class FileUpdateSerializer(serializers.Serializer):
    # context["item"]: the file being edited, whose columns `columns` names. (A comment,
    # not a docstring: the schema would show it.)
    path = serializers.CharField(required=False, allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True)
    columns = ColumnEditSerializer(
        many=True,
        required=False,
        help_text="Only the columns to change, by name; the others keep their type and "
        "description.",
    )

    entry_columns = serializers.DictField(
        child=ColumnEditSerializer(many=True),
        required=False,
        help_text="A folder's tables, by path inside the folder: only the columns to "
        "change, by name, as in `columns`; other tables and columns are unchanged.",
    )

    def validate_columns(self, edits):
        return _column_edits(self.context["item"].columns or [], edits, "The file")

    def validate_entry_columns(self, tables):
        """{path inside: edits} as the service takes them; a path the folder has no table
        at is the service's to refuse (with the tables it has)."""
        current = self.context["item"].entry_columns or {}
        return {
            path: _column_edits(current[path], edits, f"'{path[:200]}'")
            if current.get(path)
            else edits
            for path, edits in tables.items()
        }


def _column_edits(current: list[dict], edits: list[dict], what: str) -> list[dict]:
    """The edits (by column name) as the service takes them: one {type, description}
    per column of the table, in its order (tabular.clean_columns then checks them)."""
    names = [c["name"] for c in current]
    by_name = {}
    for edit in edits:
        name = edit["name"]
        if name not in names:
            known = ", ".join(names[:20]) or "none"
            raise serializers.ValidationError(
                f"{what} has no column '{name[:100]}' (its columns: {known})."
            )
        if names.count(name) > 1:
            raise serializers.ValidationError(
                f"{what} has several columns named '{name[:100]}'; describe them in "
                "the web form, where they are told apart by position."
            )
        if name in by_name:
            raise serializers.ValidationError(f"Column '{name[:100]}' is listed twice.")
        by_name[name] = edit
    return [
        {
            "type": by_name.get(c["name"], {}).get("type", c["type"]),
            "description": by_name.get(c["name"], {}).get("description", c.get("description", "")),
        }
        for c in current
    ]


class FolderEntrySerializer(serializers.Serializer):
    path = serializers.CharField(help_text="The path inside the folder.")
    size = serializers.IntegerField()
    sha256 = serializers.CharField(
        allow_null=True,
        help_text="null for a folder read live from lab storage: Wharf hashes the "
        "entries of a version when it is submitted.",
    )
    columns = ColumnSerializer(many=True, help_text="A CSV/TSV entry's inferred columns.")


def resolve_storage_path(lab: Lab, storage_path: str, storage_root_id: int | None = None):
    """(root, path inside it) for a path a person gave. Only picks the root: whether the
    path is safe inside it is the service's check (datasets.storage)."""
    roots = list(lab.storage_roots.all())
    if storage_root_id is not None:
        root = next((r for r in roots if r.pk == storage_root_id), None)
        if root is None:
            raise NotFound("No such storage root in the dataset's lab.")
        return root, storage_path
    if not roots:
        raise serializers.ValidationError(
            {
                "storage_path": [
                    f"{lab.name} has no storage roots yet; a data engineer of the lab "
                    "registers one first."
                ]
            }
        )
    if not storage_path.startswith("/"):
        if len(roots) == 1:
            return roots[0], storage_path
        raise serializers.ValidationError(
            {"storage_path": ["Give the absolute path, or the storage_root it is under."]}
        )
    # The innermost root wins when one root lies inside another.
    under = [
        r
        for r in roots
        if storage_path.rstrip("/") == r.path.rstrip("/")
        or storage_path.startswith(r.path.rstrip("/") + "/")
    ]
    best = max(under, key=lambda r: len(r.path), default=None)
    if best is None:
        where = ", ".join(r.path for r in roots)
        raise serializers.ValidationError(
            {
                "storage_path": [
                    f"'{storage_path[:200]}' is not under the lab's storage roots ({where})."
                ]
            }
        )
    relpath = storage_path[len(best.path.rstrip("/")) :].lstrip("/")
    return best, relpath or "."


# --- Cover image --------------------------------------------------------------------


class CoverUploadSerializer(serializers.Serializer):
    """For the schema: the multipart body PUT /cover/ takes (datasets.cover checks it)."""

    image = serializers.FileField(
        help_text=f"PNG, JPEG or WebP, at least {cover.HEADER[0]}×{cover.HEADER[1]} pixels, "
        f"at most {cover.MAX_BYTES // (1024 * 1024)} MB."
    )


# --- History -----------------------------------------------------------------------


class EventSerializer(serializers.ModelSerializer):
    actor = serializers.SerializerMethodField()

    class Meta:
        model = Event
        fields = ["id", "at", "actor", "action", "submission", "job", "data"]
        read_only_fields = fields

    def get_actor(self, obj) -> str | None:
        # A deleted user's events keep the name they had (Event.actor_name).
        return username(obj.actor) or obj.actor_name or None


class DatasetFilterSerializer(serializers.Serializer):
    lab = id_field(required=False)
    status = serializers.ChoiceField(choices=DatasetStatus.choices, required=False)
    q = serializers.CharField(required=False, max_length=200, help_text="Words in title or slug.")


# --- What is on Kaggle -------------------------------------------------------------


class MakePublicSerializer(serializers.Serializer):
    confirm = serializers.BooleanField(
        default=False,
        help_text="true: you understand Kaggle never makes the dataset private again.",
    )


class RemoveFromKaggleSerializer(serializers.Serializer):
    confirm = serializers.CharField(
        default="",
        allow_blank=True,
        max_length=120,
        help_text="The dataset's ref (owner/slug), typed to confirm the deletion on Kaggle.",
    )
