"""The "Import from CSV/XLSX" admin views, for the same files the import commands take."""

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path

from .. import imports, selectors
from ..models import Organization
from .tenancy import TenantAdmin


class ImportForm(forms.Form):
    organization = forms.ModelChoiceField(queryset=Organization.objects.none())
    file = forms.FileField(
        help_text="A .csv (UTF-8) or .xlsx file; the first line names the columns."
    )

    def __init__(self, *args, organizations, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["organization"]
        field.queryset = organizations
        only = list(organizations.values_list("pk", flat=True)[:2])
        if len(only) == 1:
            field.initial, field.empty_label = only[0], None


class ImportAdmin(TenantAdmin):
    """Adds "Import from CSV/XLSX" to a changelist, for the same files as the commands take."""

    change_list_template = "admin/locations/change_list_import.html"
    import_columns: tuple[str, ...] = ()

    def run_import(self, *, organization, rows):
        raise NotImplementedError

    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}_import"
        view = self.admin_site.admin_view(self.import_view)
        return [path("import/", view, name=name), *super().get_urls()]

    def import_view(self, request):
        if not self.has_add_permission(request):
            raise PermissionDenied
        organizations = selectors.administered_organizations(request.user)
        form = ImportForm(request.POST or None, request.FILES or None, organizations=organizations)
        if request.method == "POST" and form.is_valid():
            upload, organization = form.cleaned_data["file"], form.cleaned_data["organization"]
            try:
                rows = imports.read_table(upload, upload.name)
                summary = self.run_import(organization=organization, rows=rows)
            except imports.ImportFailed as failure:
                form.add_error("file", failure.errors)
            else:
                messages.success(request, f"Imported into {organization}: {summary}.")
                return redirect(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Import {self.opts.verbose_name_plural} from CSV/XLSX",
            "form": form,
            "columns": ", ".join(self.import_columns),
        }
        return TemplateResponse(request, "admin/locations/import.html", context)
