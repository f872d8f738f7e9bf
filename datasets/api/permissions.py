"""Role checks the API makes before calling a service. The services check again (they
are the rule); these give the API a 403 early and a place in the schema."""

from rest_framework import permissions

from datasets.selectors import is_engineer


def lab_of(obj):
    """The lab an API object belongs to: a lab, or anything with a dataset."""
    if hasattr(obj, "memberships"):
        return obj
    if hasattr(obj, "lab"):
        return obj.lab
    return obj.dataset.lab


class IsLabEngineer(permissions.BasePermission):
    """Only the data engineers of the object's lab (and superusers)."""

    message = "Only the lab's data engineers may do this."

    def has_object_permission(self, request, view, obj):
        return is_engineer(request.user, lab_of(obj))
