"""Consortium membership: invitations, the invitee's notifications, members, joining and quitting."""
