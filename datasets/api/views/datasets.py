from django.db import transaction
from django.db.models import Q
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import permissions, status
from rest_framework.exceptions import NotFound, UnsupportedMediaType, ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from datasets import cover
from datasets.api.parsers import ImageParser
from datasets.api.permissions import IsLabEngineer
from datasets.api.serializers import (
    CoverUploadSerializer,
    DatasetCreateSerializer,
    DatasetFilterSerializer,
    DatasetSerializer,
    DatasetUpdateSerializer,
    EventSerializer,
    MakePublicSerializer,
    RemoveFromKaggleSerializer,
    resolve_storage_path,
)
from datasets.metadata import dataset_kaggle_metadata, shown_metadata
from datasets.selectors import datasets_for
from datasets.services.datasets import dataset_create, dataset_delete, dataset_update
from datasets.services.files import file_add_storage
from datasets.services.lifecycle import dataset_make_public, dataset_remove_from_kaggle

from .base import ScopedAPIView


class DatasetListView(ScopedAPIView):
    """Datasets of your labs, recently changed first; POST registers a new one."""

    serializer_class = DatasetSerializer

    def get_queryset(self):
        filters = self.query(DatasetFilterSerializer)
        self.check_lab_filter(filters.get("lab"))
        datasets = datasets_for(self.request.user).select_related("created_by")
        if "lab" in filters:
            datasets = datasets.filter(lab_id=filters["lab"])
        if "status" in filters:
            datasets = datasets.filter(status=filters["status"])
        for word in filters.get("q", "").split():
            datasets = datasets.filter(Q(title__icontains=word) | Q(slug__icontains=word))
        return datasets.order_by("-updated_at", "-id")

    @extend_schema(parameters=[DatasetFilterSerializer], responses=DatasetSerializer(many=True))
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(request=DatasetCreateSerializer, responses={201: DatasetSerializer})
    def post(self, request):
        serializer = DatasetCreateSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        fields = dict(serializer.validated_data)
        lab = fields.pop("lab")
        storage_path = fields.pop("storage_path", None)
        # One answer for one request: if the storage path is refused, no dataset is left.
        with transaction.atomic():
            dataset = dataset_create(actor=request.user, lab=lab, **fields)
            if storage_path:
                root, relpath = resolve_storage_path(lab, storage_path)
                file_add_storage(dataset, actor=request.user, storage_root=root, relpath=relpath)
        dataset = self.get_dataset(dataset.pk)
        return Response(self.get_serializer(dataset).data, status=status.HTTP_201_CREATED)


class DatasetDetailView(ScopedAPIView):
    """One dataset. PATCH edits it while it is a draft, returned, published or failed
    (not in review or publishing: 409); DELETE removes one without publish history."""

    serializer_class = DatasetSerializer
    http_method_names = ["get", "patch", "delete", "head", "options"]

    def get(self, request, pk):
        return Response(self.get_serializer(self.get_dataset(pk)).data)

    @extend_schema(request=DatasetUpdateSerializer, responses=DatasetSerializer)
    def patch(self, request, pk):
        dataset = self.get_dataset(pk)
        serializer = DatasetUpdateSerializer(
            dataset, data=request.data, partial=True, context={"request": request}
        )
        serializer.is_valid(raise_exception=True)
        dataset_update(dataset, actor=request.user, **serializer.validated_data)
        return Response(self.get_serializer(self.get_dataset(pk)).data)

    @extend_schema(responses={204: None})
    def delete(self, request, pk):
        dataset_delete(self.get_dataset(pk), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp")
# Room for a multipart body's boundaries and part headers around the image itself.
MULTIPART_SLACK = 64 * 1024


class DatasetCoverView(ScopedAPIView):
    """The dataset's cover image, which Kaggle shows as its header and thumbnail.

    GET answers the PNG Wharf stores: the uploaded image checked, re-encoded and fitted
    to Kaggle's header, never the uploaded bytes (`?crop=thumbnail`: the square crop
    Kaggle makes of it). 404 while the dataset has none.

    PUT sets it: multipart/form-data with the field `image`, or the image itself as the
    body with its Content-Type (image/png, image/jpeg or image/webp). An image Wharf
    refuses (not an image, another format, too small, too large, too many pixels) is a
    400 that says why. DELETE removes it. Both edit the dataset's metadata, as PATCH
    /datasets/{id}/ does: any member of the lab, while the dataset is editable (409 in
    review or publishing); its next version sends the cover to Kaggle."""

    serializer_class = DatasetSerializer
    parser_classes = [MultiPartParser, ImageParser]
    http_method_names = ["get", "put", "delete", "head", "options"]

    def perform_content_negotiation(self, request, force=False):
        # The image is a plain HttpResponse; anything else (errors) is JSON, whatever the
        # client's Accept asked for, rather than a 406.
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "crop",
                str,
                enum=["header", "thumbnail"],
                description="header (default): the stored image; thumbnail: the square "
                "crop Kaggle makes of it.",
            )
        ],
        responses={
            (200, "image/png"): OpenApiTypes.BINARY,
            404: OpenApiResponse(description="The dataset has no cover image."),
        },
    )
    def get(self, request, pk):
        dataset = self.get_dataset(pk)
        crop = request.query_params.get("crop", "header")
        if crop not in ("header", "thumbnail"):
            raise ValidationError({"crop": ["Choose header or thumbnail."]})
        if not dataset.cover_image:
            raise NotFound("The dataset has no cover image.")
        try:
            with dataset.cover_image.open("rb") as handle:
                png = handle.read()
            if crop == "thumbnail":
                png = cover.cover_crop(png, crop)
        except (OSError, ValueError):
            raise NotFound("The cover image is not readable.") from None
        response = HttpResponse(png, content_type="image/png")
        response["Content-Disposition"] = f'inline; filename="cover-{crop}.png"'
        response["Cache-Control"] = "private, no-cache"
        return response

    @extend_schema(
        request={
            "multipart/form-data": CoverUploadSerializer,
            **{kind: OpenApiTypes.BINARY for kind in IMAGE_TYPES},
        },
        responses=DatasetSerializer,
    )
    def put(self, request, pk):
        dataset = self.get_dataset(pk)
        try:
            sanitised = cover.cover_sanitise(self.uploaded_image(request))
        except cover.CoverError as exc:
            raise ValidationError({"image": [str(exc)]}) from None
        dataset_update(dataset, actor=request.user, cover_image=sanitised)
        return Response(self.get_serializer(self.get_dataset(pk)).data)

    @extend_schema(responses={204: None})
    def delete(self, request, pk):
        # The stored file stays: versions already submitted name it in their snapshot.
        dataset_update(self.get_dataset(pk), actor=request.user, cover_image="")
        return Response(status=status.HTTP_204_NO_CONTENT)

    def uploaded_image(self, request):
        """The image of a PUT, refused by its declared length before the body is read."""
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        cover.cover_check_size(max(0, length - MULTIPART_SLACK))
        try:
            image = request.FILES.get("image")
        except UnsupportedMediaType:
            image = None
        if image is None:
            raise ValidationError(
                {
                    "image": [
                        "Send the image as multipart/form-data (field 'image') or as the "
                        f"body, with its Content-Type ({', '.join(IMAGE_TYPES)})."
                    ]
                }
            )
        return image


class DatasetKaggleMetadataView(ScopedAPIView):
    """The exact dataset-metadata.json Wharf would send if the dataset were submitted now."""

    serializer_class = None

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, pk):
        return Response(shown_metadata(dataset_kaggle_metadata(self.get_dataset(pk))))


class DatasetHistoryView(ScopedAPIView):
    """The dataset's events, newest first."""

    serializer_class = EventSerializer

    @extend_schema(responses=EventSerializer(many=True))
    def get(self, request, pk):
        dataset = self.get_dataset(pk)
        events = dataset.events.select_related("actor").order_by("-at", "-id")
        page = self.paginate_queryset(events)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


class DatasetKaggleActionView(ScopedAPIView):
    # Engineers only (IsLabEngineer: 403), the same refusals as the web pages (409 while
    # something else is under way, or the dataset is not in a state for it).
    serializer_class = DatasetSerializer
    permission_classes = [permissions.IsAuthenticated, IsLabEngineer]

    def engineers_dataset(self, pk):
        dataset = self.get_dataset(pk)
        self.check_object_permissions(self.request, dataset)
        return dataset

    def answer(self, pk):
        return Response(self.get_serializer(self.get_dataset(pk)).data, status=202)


class DatasetMakePublicView(DatasetKaggleActionView):
    """Makes a published private dataset public on Kaggle: cannot be undone (Kaggle never
    makes a dataset private again), so `confirm` must be true. Answers 202: a worker asks
    Kaggle, and the dataset's history shows Kaggle's answer (`dataset.made_public` or
    `dataset.make_public.failed`); `is_private` follows what Kaggle then shows."""

    @extend_schema(request=MakePublicSerializer, responses={202: DatasetSerializer})
    def post(self, request, pk):
        dataset = self.engineers_dataset(pk)
        serializer = MakePublicSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        dataset_make_public(
            dataset, actor=request.user, confirm=serializer.validated_data["confirm"]
        )
        return self.answer(pk)


class DatasetRemoveFromKaggleView(DatasetKaggleActionView):
    """Deletes the dataset on Kaggle (every version); `confirm` must be its ref
    (owner/slug). Answers 202: once Kaggle no longer has it, the dataset is archived in
    Wharf with its whole history (`dataset.removed_from_kaggle`), slug and title kept."""

    @extend_schema(request=RemoveFromKaggleSerializer, responses={202: DatasetSerializer})
    def post(self, request, pk):
        dataset = self.engineers_dataset(pk)
        serializer = RemoveFromKaggleSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        dataset_remove_from_kaggle(
            dataset, actor=request.user, confirm=serializer.validated_data["confirm"]
        )
        return self.answer(pk)
