"""Page routes (filled in by the area that owns them)."""

urlpatterns = []
