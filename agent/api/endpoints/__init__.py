"""The endpoints of the contract, one group per domain, as ``AuviousClient`` attributes."""

from agent.api.endpoints.assets import Assets
from agent.api.endpoints.compositions import Compositions
from agent.api.endpoints.conferences import Conferences
from agent.api.endpoints.filetransfers import FileTransfers
from agent.api.endpoints.ice import IceServers
from agent.api.endpoints.interactions import Interactions
from agent.api.endpoints.ratings import Ratings
from agent.api.endpoints.recorder import Recorder
from agent.api.endpoints.registrations import Registrations
from agent.api.endpoints.security import Security
from agent.api.endpoints.snapshots import Snapshots
from agent.api.endpoints.talkdesk import Talkdesk

__all__ = [
    "Assets",
    "Compositions",
    "Conferences",
    "FileTransfers",
    "IceServers",
    "Interactions",
    "Ratings",
    "Recorder",
    "Registrations",
    "Security",
    "Snapshots",
    "Talkdesk",
]
