from collections.abc import Callable

from django.core.paginator import InvalidPage
from rest_framework.exceptions import NotFound
from rest_framework.pagination import PageNumberPagination


class _CutPage:
    """What Django's Paginator asks of a list (its length, one slice), for a list that
    was cut to one page and counted in a single pass."""

    def __init__(self, rows: list, count: int):
        self.rows, self.total = rows, count

    def count(self) -> int:
        return self.total

    def __len__(self) -> int:
        return self.total

    def __getitem__(self, _page_slice) -> list:
        return self.rows


class Pagination(PageNumberPagination):
    """`{count, next, previous, results}`; `?page=` and `?page_size=` (at most 200)."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def paginate_cut(self, request, cut: Callable[[int, int], tuple[list, int]]) -> list:
        """Pages what is not a queryset and costs a walk to count (a folder on lab
        storage): `cut(number, page_size)` returns (that page's rows, total) in one pass.
        Same parameters, answers and 404 for a page past the end as paginate_queryset."""
        size = self.get_page_size(request)
        raw = request.query_params.get(self.page_query_param) or "1"
        try:
            number = int(raw)
            if number < 1:
                raise ValueError
        except ValueError:
            raise NotFound(
                self.invalid_page_message.format(page_number=raw[:20], message="Not a page.")
            ) from None
        rows, count = cut(number, size)
        paginator = self.django_paginator_class(_CutPage(rows, count), size)
        try:
            self.page = paginator.page(number)
        except InvalidPage as exc:
            raise NotFound(
                self.invalid_page_message.format(page_number=number, message=exc)
            ) from None
        self.request = request
        return list(self.page)
