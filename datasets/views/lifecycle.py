"""Engineers' actions on what is on Kaggle: make a private dataset public, remove a
dataset from Kaggle. Each is a confirmation page (GET) and its POST, which records the
request; a worker does the Kaggle call and the dataset's history shows the outcome."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.views import View

from datasets.selectors import is_engineer
from datasets.services import lifecycle
from datasets.services.errors import Forbidden, ServiceError

from .mixins import DatasetChildMixin, error_message


class _KaggleActionView(DatasetChildMixin, View):
    http_method_names = ["get", "post"]
    template_name = "datasets/dataset_confirm_kaggle.html"
    action = ""
    what = ""

    def check_access(self):
        dataset = self.get_dataset()
        if not is_engineer(self.request.user, dataset.lab):
            raise PermissionDenied(f"Only data engineers of {dataset.lab.name} may {self.what}.")

    def get(self, request, pk):
        context = {"dataset": self.get_dataset(), "action": self.action}
        return render(request, self.template_name, context)

    def post(self, request, pk):
        dataset = self.get_dataset()
        try:
            self.perform(dataset)
        except Forbidden as exc:
            raise PermissionDenied(exc.message) from None
        except ServiceError as exc:
            if getattr(exc, "field", None) == "confirm":
                return render(
                    request,
                    self.template_name,
                    {"dataset": dataset, "action": self.action, "error": error_message(exc)},
                    status=400,
                )
            messages.error(request, error_message(exc))
            return redirect("datasets:dataset_detail", dataset.pk)
        messages.success(request, self.success_message)
        return redirect("datasets:dataset_detail", dataset.pk)


class DatasetMakePublicView(_KaggleActionView):
    action = "make_public"
    what = "make a dataset public"
    success_message = (
        "Asked Kaggle to make the dataset public; its history shows Kaggle's answer in a moment."
    )

    def perform(self, dataset):
        return lifecycle.dataset_make_public(
            dataset, actor=self.request.user, confirm=self.request.POST.get("confirm") == "1"
        )


class DatasetRemoveFromKaggleView(_KaggleActionView):
    action = "remove"
    what = "remove a dataset from Kaggle"
    success_message = (
        "Asked Kaggle to delete the dataset; once it is gone the dataset is archived here."
    )

    def perform(self, dataset):
        return lifecycle.dataset_remove_from_kaggle(
            dataset, actor=self.request.user, confirm=self.request.POST.get("confirm", "")
        )
