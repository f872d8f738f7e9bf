from collections.abc import Mapping

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response

from datasets import storage
from datasets.api.serializers import (
    DatasetFileSerializer,
    FileAddSerializer,
    FileStorageSerializer,
    FileUpdateSerializer,
    FileUploadSerializer,
    FolderEntrySerializer,
    resolve_storage_path,
)
from datasets.folder_entries import NotAFolder, entries_page, live_entries
from datasets.services.errors import Conflict
from datasets.services.files import file_add_storage, file_add_upload, file_remove, file_update

from .base import ScopedAPIView


class DatasetFileListView(ScopedAPIView):
    """A dataset's files and folders. POST multipart `{file, path?, description?}` to
    upload, or JSON `{storage_path, description?}` for a file or folder on lab storage."""

    serializer_class = DatasetFileSerializer
    pagination_class = None
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    @extend_schema(responses=DatasetFileSerializer(many=True))
    def get(self, request, pk):
        dataset = self.get_dataset(pk)
        items = dataset.files.select_related("storage_root")
        return Response(self.get_serializer(items, many=True).data)

    @extend_schema(
        request={
            "multipart/form-data": FileUploadSerializer,
            "application/json": FileAddSerializer,
        },
        responses={201: DatasetFileSerializer},
    )
    def post(self, request, pk):
        dataset = self.get_dataset(pk)
        data = request.data
        if not isinstance(data, Mapping):
            raise ValidationError({"non_field_errors": ["Send a JSON object or a form."]})
        has_file = bool(request.FILES) or "file" in data
        has_path = "storage_path" in data
        if has_file and has_path:
            raise ValidationError(
                {"storage_path": ["Send either a file or a storage_path, not both."]}
            )
        if not (has_file or has_path):
            raise ValidationError(
                {
                    "file": [
                        "Send a file (multipart/form-data, field 'file') or a storage_path "
                        "on lab storage (JSON)."
                    ]
                }
            )
        item = self.add_upload(dataset, data) if has_file else self.add_storage(dataset, data)
        return Response(self.get_serializer(item).data, status=status.HTTP_201_CREATED)

    def add_upload(self, dataset, data):
        serializer = FileUploadSerializer(data=data)
        serializer.is_valid(raise_exception=True)
        fields = serializer.validated_data
        return file_add_upload(
            dataset,
            actor=self.request.user,
            uploaded_file=fields["file"],
            path=fields.get("path", ""),
            description=fields.get("description", ""),
        )

    def add_storage(self, dataset, data):
        serializer = FileStorageSerializer(data=data)
        serializer.is_valid(raise_exception=True)
        fields = serializer.validated_data
        root, relpath = resolve_storage_path(
            dataset.lab, fields["storage_path"], fields.get("storage_root")
        )
        return file_add_storage(
            dataset,
            actor=self.request.user,
            storage_root=root,
            relpath=relpath,
            path=fields.get("path", ""),
            description=fields.get("description", ""),
        )


class FileScopedAPIView(ScopedAPIView):
    def get_file(self, pk, file_pk):
        dataset = self.get_dataset(pk)
        return get_object_or_404(dataset.files.select_related("storage_root"), pk=file_pk)


class DatasetFileDetailView(FileScopedAPIView):
    """One file or folder of a dataset: PATCH renames it, changes its description, or
    corrects and describes a CSV/TSV's columns (`columns`: only those to change, by
    name), as the file's edit form does, or those of a folder's tables (`entry_columns`:
    {path inside the folder: the same list}), as the entry columns form does."""

    serializer_class = DatasetFileSerializer
    http_method_names = ["get", "patch", "delete", "head", "options"]

    def get(self, request, pk, file_pk):
        return Response(self.get_serializer(self.get_file(pk, file_pk)).data)

    @extend_schema(request=FileUpdateSerializer, responses=DatasetFileSerializer)
    def patch(self, request, pk, file_pk):
        item = self.get_file(pk, file_pk)
        # Not partial: every field is optional already, and a column edit must name its
        # column (partial would waive that inside `columns` too).
        serializer = FileUpdateSerializer(data=request.data, context={"item": item})
        serializer.is_valid(raise_exception=True)
        item = file_update(item, actor=request.user, **serializer.validated_data)
        return Response(self.get_serializer(item).data)

    @extend_schema(responses={204: None})
    def delete(self, request, pk, file_pk):
        file_remove(self.get_file(pk, file_pk), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class DatasetFileEntriesView(FileScopedAPIView):
    """The files inside a folder of the dataset, as they are on lab storage now, a page at
    a time (sorted by path; `sha256` is null until a version is submitted). 404 for a
    plain file; 409 when the folder can no longer be read on lab storage."""

    serializer_class = FolderEntrySerializer

    @extend_schema(responses=FolderEntrySerializer(many=True))
    def get(self, request, pk, file_pk):
        item = self.get_file(pk, file_pk)

        def cut(number, size):
            found = entries_page(live_entries(item), number, item.entry_columns, per_page=size)
            return found.rows, found.count

        try:
            rows = self.paginator.paginate_cut(request, cut)
        except NotAFolder as exc:
            raise NotFound(str(exc)) from None
        except (storage.UnsafePath, OSError) as exc:
            raise Conflict(
                f"Wharf cannot list this folder on lab storage now: {exc}", code="storage"
            ) from None
        return self.paginator.get_paginated_response(self.get_serializer(rows, many=True).data)
