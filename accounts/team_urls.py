from django.urls import path

from . import team_views as views

app_name = "teams"

urlpatterns = [
    path("", views.team_list, name="list"),
    path("join/<str:token>/", views.team_join, name="join"),
    path("invitations/<int:id>/<str:answer>/", views.invitation_respond, name="invitation-respond"),
    path("<slug:slug>/", views.team_detail, name="detail"),
    path("<slug:slug>/members/", views.team_members_page, name="members"),
    path("<slug:slug>/invite/", views.team_invite, name="invite"),
    path("<slug:slug>/invite-link/", views.team_invite_link_create, name="invite-link"),
    path(
        "<slug:slug>/invitations/<int:id>/revoke/",
        views.team_invitation_revoke,
        name="invitation-revoke",
    ),
    path("<slug:slug>/members/<int:user_id>/role/", views.team_member_role, name="member-role"),
    path("<slug:slug>/members/<int:user_id>/cap/", views.team_member_cap, name="member-cap"),
    path(
        "<slug:slug>/members/<int:user_id>/remove/",
        views.team_member_remove_view,
        name="member-remove",
    ),
    path("<slug:slug>/leave/", views.team_leave_view, name="leave"),
]
